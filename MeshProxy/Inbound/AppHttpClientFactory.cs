using AspireMesh.ProxyEngine.Telemetry;
using Yarp.ReverseProxy.Forwarder;

namespace AspireMesh.MeshProxy.Inbound;

/// <summary>
/// The client of the hop to the application: YARP's, with a short idle timeout for pooled connections. A burst of
/// concurrent requests opens one HTTP/1.1 connection to the app per request in flight (hundreds at a time); with .NET's
/// default of a minute, a sidecar kept them all, and their buffers, for a minute after the burst. A connection idle
/// for longer than the app's own keep-alive timeout is also one the app may be closing as the sidecar reuses it (Node.js
/// closes idle connections after 5 s). Linkerd's proxy closes idle connections to its application after 3 s; so does
/// this one. A new connection over loopback costs well under a millisecond. Trace context as the proxy's other clients
/// write it (<see cref="TraceContextClientFactory"/>).
/// </summary>
internal sealed class AppHttpClientFactory(bool clientSpans) : TraceContextClientFactory(clientSpans)
{
    /// <summary>How long a pooled connection to the app may stay idle.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(3);

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.PooledConnectionIdleTimeout = IdleTimeout;
        ProxyEngine.Hosting.IoScheduling.ConfigureUpstreamConnections(handler);
    }
}
