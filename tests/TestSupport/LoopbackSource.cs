using System.Net;
using System.Net.Sockets;

namespace AspireMesh.TestSupport;

/// <summary>
/// HTTP handlers whose connections leave from a chosen loopback address (all of 127.0.0.0/8 is loopback on Linux), so
/// that what a proxy says of its client (<c>X-Forwarded-For</c>) can be told from the proxy's own 127.0.0.1.
/// </summary>
public static class LoopbackSource
{
    /// <summary>A second loopback address, for a client that must not look like the proxies.</summary>
    public static readonly IPAddress Client = IPAddress.Parse("127.0.0.2");

    /// <summary>A handler whose connections are bound to <paramref name="local"/> before they connect.</summary>
    public static SocketsHttpHandler Handler(IPAddress local) => new()
    {
        AllowAutoRedirect = false,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(local, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
