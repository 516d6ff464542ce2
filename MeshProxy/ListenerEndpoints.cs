using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace AspireMesh.MeshProxy;

/// <summary>
/// The two ports of a sidecar listener: one for HTTP/1.1 and one for HTTP/2 with prior knowledge (h2c).
/// Kestrel serves h2c only on a port without HTTP/1.1 (there is no ALPN without TLS to choose), hence two ports.
/// </summary>
internal sealed class ListenerEndpoints
{
    private ListenOptions? _http1;
    private ListenOptions? _http2;

    /// <summary>The HTTP/1.1 port's URL, once the listener has started.</summary>
    public Uri Http1Url => Url(_http1);

    /// <summary>The HTTP/2 port's URL, once the listener has started.</summary>
    public Uri Http2Url => Url(_http2);

    /// <summary>Declares both ports on <paramref name="kestrel"/>, bound to <paramref name="address"/>; 0 picks a free one.</summary>
    public void Declare(KestrelServerOptions kestrel, IPAddress address, int http1Port, int http2Port, Action<ListenOptions>? http1 = null)
    {
        kestrel.Listen(address, http1Port, o =>
        {
            http1?.Invoke(o);
            _http1 = o;
        });
        kestrel.Listen(address, http2Port, o =>
        {
            o.Protocols = HttpProtocols.Http2;
            _http2 = o;
        });
    }

    /// <summary>The HTTP/1.1 port's URL with <paramref name="host"/> as its host, once the listener has started.</summary>
    public Uri Http1UrlAt(string host) => UrlAt(_http1, host);

    /// <summary>The HTTP/2 port's URL with <paramref name="host"/> as its host, once the listener has started.</summary>
    public Uri Http2UrlAt(string host) => UrlAt(_http2, host);

    // Kestrel writes the bound endpoint (with the port it picked for 0) back into the ListenOptions.
    private static Uri Url(ListenOptions? options) => UrlAt(options, null);

    private static Uri UrlAt(ListenOptions? options, string? host) =>
        options?.EndPoint is IPEndPoint { Port: > 0 } bound
            ? new UriBuilder("http", host ?? bound.Address.ToString(), bound.Port).Uri
            : throw new InvalidOperationException("The listener has not started yet.");
}
