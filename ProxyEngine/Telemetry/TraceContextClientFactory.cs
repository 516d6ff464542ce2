using System.Diagnostics;
using Yarp.ReverseProxy.Forwarder;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>
/// YARP's client factory for the proxy's forwarded requests, and how their trace context is written. With
/// <paramref name="clientSpans"/> (the proxy records spans, <see cref="TracePropagation.RecordsSpans"/>), HttpClient
/// starts a client span for every attempt and writes it as the request's parent, as YARP's clients do. Without, the
/// client has no diagnostics stage (HttpClient's per-handler <see cref="SocketsHttpHandler.ActivityHeadersPropagator"/>
/// set to null), so no activity is started per attempt, and <see cref="TracePropagation.Write"/> writes the context.
/// </summary>
public class TraceContextClientFactory(bool clientSpans) : ForwarderHttpClientFactory
{
    /// <inheritdoc />
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        if (!clientSpans)
        {
            handler.ActivityHeadersPropagator = null;
        }
    }

    /// <inheritdoc />
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler)
    {
        var wrapped = base.WrapHandler(context, handler);
        return clientSpans ? wrapped : new TraceContextHandler(wrapped);
    }

    private sealed class TraceContextHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        // As YARP's clients write it: the process's propagator, after removing what was copied from the incoming request.
        private readonly ReverseProxyPropagator _propagator = new(DistributedContextPropagator.Current);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            TracePropagation.Write(request, _propagator);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
