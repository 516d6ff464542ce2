using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>HTTP/1.1 over a raw socket, for what HttpClient will not send (CONNECT tunnels, odd methods).</summary>
internal static class RawExchange
{
    public static async Task<Socket> ConnectAsync(Uri url, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, url.Port, cancellationToken);
        return socket;
    }

    /// <summary>Sends a request head and reads one whole answer (head and, when it has a Content-Length, body).</summary>
    public static async Task<string> ExchangeAsync(NetworkStream stream, TimeSpan deadline, CancellationToken cancellationToken, string request)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        var received = new StringBuilder();
        var buffer = new byte[8192];
        while (true)
        {
            var text = received.ToString();
            var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headEnd >= 0)
            {
                var headers = text[..headEnd].Split("\r\n");
                if (headers.Any(l => l.Equals("transfer-encoding: chunked", StringComparison.OrdinalIgnoreCase)))
                {
                    if (text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
                    {
                        return text;
                    }
                }
                else
                {
                    var length = headers.FirstOrDefault(l => l.StartsWith("content-length:", StringComparison.OrdinalIgnoreCase)) is { } header
                        ? int.Parse(header["content-length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)
                        : 0;
                    if (text.Length - headEnd - 4 >= length)
                    {
                        return text;
                    }
                }
            }

            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                return received.ToString();
            }

            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
    }
}
