using System.Net.Sockets;
using System.Text;

namespace AspireMesh.Gateway.Tests;

/// <summary>Sends bytes exactly as written to a loopback port and reads the answer, for requests no HTTP client would send.</summary>
public static class RawHttp
{
    /// <summary>A parsed response: status code, headers (lower-case names) and body.</summary>
    public sealed record Response(int Status, IReadOnlyDictionary<string, string> Headers, string Body, string Raw)
    {
        public string? Header(string name) => Headers.GetValueOrDefault(name);
    }

    /// <summary>Sends <paramref name="request"/> (Latin-1) and reads until the server closes the connection or the response is complete.</summary>
    public static async Task<Response> SendAsync(int port, string request, byte[]? body = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        if (body is not null)
        {
            try
            {
                await stream.WriteAsync(body);
            }
            catch (IOException)
            {
                // The server may answer and close before reading all of it; the answer is still there to read.
            }
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            int read;
            try
            {
                read = await stream.ReadAsync(buffer, timeout.Token);
            }
            catch (IOException) when (received.Length > 0)
            {
                break;
            }

            if (read == 0)
            {
                break;
            }

            received.Write(buffer, 0, read);
            if (Complete(received.ToArray()))
            {
                break;
            }
        }

        return Parse(Encoding.Latin1.GetString(received.ToArray()));
    }

    private static bool Complete(byte[] data)
    {
        var text = Encoding.Latin1.GetString(data);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return false;
        }

        var head = Parse(text);
        if (head.Header("content-length") is { } length)
        {
            return text.Length - end - 4 >= int.Parse(length, System.Globalization.CultureInfo.InvariantCulture);
        }

        return head.Header("transfer-encoding") is { } te && te.Contains("chunked", StringComparison.OrdinalIgnoreCase) && text.EndsWith("0\r\n\r\n", StringComparison.Ordinal);
    }

    private static Response Parse(string raw)
    {
        var end = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            throw new InvalidOperationException($"no complete HTTP response: '{raw}'");
        }

        var lines = raw[..end].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }

        return new Response(status, headers, raw[(end + 4)..], raw);
    }
}
