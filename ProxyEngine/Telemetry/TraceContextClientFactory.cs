using Yarp.ReverseProxy.Forwarder;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>
/// YARP's client factory for the proxy's forwarded requests, and how their trace context is written. With
/// <paramref name="clientSpans"/> (a tracer records spans), HttpClient starts a client span for every attempt and
/// writes it as the request's parent, as YARP's clients do. Without, the client has no diagnostics stage (HttpClient's
/// per-handler <see cref="SocketsHttpHandler.ActivityHeadersPropagator"/> set to null) and the proxy's own span is
/// written as the parent (<see cref="TracePropagation.Write"/>): the same trace crosses the proxy, for one activity per
/// request instead of two and none of the diagnostics stage's per-request state.
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
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            TracePropagation.Write(request);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
