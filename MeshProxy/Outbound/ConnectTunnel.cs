using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Egress;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Routing;
using AspireMesh.ProxyEngine.Telemetry;
using Microsoft.AspNetCore.Connections;

namespace AspireMesh.MeshProxy.Outbound;

/// <summary>
/// HTTP CONNECT on the outbound (HTTP_PROXY) port, which Kestrel does not serve. gRPC clients and other HTTP/2
/// clients that honour <c>http_proxy</c> open a tunnel to <c>service:port</c> and speak HTTP/2 inside it; the sidecar
/// accepts tunnels to hosts its routes serve and joins each to its own outbound listener for that protocol
/// (the HTTP/2-only one when the client starts with the HTTP/2 preface), where the request is routed like any other.
/// A tunnel to a host:port outside the mesh that an egress policy allows is joined to that host (raw TCP: the app
/// speaks TLS to it itself) and measured as one request; any other tunnel is refused with 403 <c>egress-denied</c>.
/// </summary>
/// <remarks>A connection middleware: it looks at the first bytes of each connection and hands anything else to Kestrel untouched.</remarks>
internal sealed class ConnectTunnel(RoutedHosts hosts, EgressTable egress, ListenerEndpoints ports, RequestMetrics metrics, SidecarOptions options, ProxyStatus status,
    TimeProvider time, ILogger<ConnectTunnel> logger)
{
    private const int MaxHeadBytes = 8 * 1024;

    private int _held;

    /// <summary>Tunnels are measured with the app's other calls.</summary>
    private const string Direction = "outbound";

    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    private static ReadOnlySpan<byte> Http2Preface => "PRI "u8;

    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        try
        {
            await HandleAsync(connection, next).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ConnectionResetException or ConnectionAbortedException)
        {
            // The client went away mid-handshake, or the listener behind the tunnel was gone: nothing to answer.
        }
    }

    private async Task HandleAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var input = connection.Transport.Input;
        var result = await input.ReadAsync(connection.ConnectionClosed).ConfigureAwait(false);
        var buffer = result.Buffer;
        // Only CONNECT starts with 'C' among the methods an HTTP proxy sees; anything else goes to Kestrel as it came.
        if (buffer.IsEmpty || buffer.FirstSpan[0] != (byte)'C')
        {
            input.AdvanceTo(buffer.Start);
            await next(connection).ConfigureAwait(false);
            return;
        }

        var waited = false;
        SequencePosition? headEnd;
        while ((headEnd = FindHeadEnd(buffer)) is null)
        {
            if (buffer.Length > MaxHeadBytes || result.IsCompleted)
            {
                await RefuseAsync(connection, 400, "Bad Request", "not-supported", "the request head is incomplete or larger than 8 KiB.").ConfigureAwait(false);
                return;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            waited = true;
            result = await input.ReadAsync(connection.ConnectionClosed).ConfigureAwait(false);
            buffer = result.Buffer;
        }

        var head = Encoding.ASCII.GetString(buffer.Slice(0, headEnd.Value));
        var requestLine = head[..head.IndexOf('\r', StringComparison.Ordinal)].Split(' ');
        if (requestLine is not ["CONNECT", var authority, ['H', 'T', 'T', 'P', '/', '1', '.', _]])
        {
            if (!waited)
            {
                // Another method starting with 'C': Kestrel answers it (nothing has been consumed or examined).
                input.AdvanceTo(buffer.Start);
                await next(connection).ConfigureAwait(false);
                return;
            }

            await RefuseAsync(connection, 501, "Not Implemented", MeshErrors.NotSupported, $"'{requestLine[0]}' requests are not supported by the outbound proxy.").ConfigureAwait(false);
            return;
        }

        input.AdvanceTo(headEnd.Value);
        var (host, port) = HostOf(authority);
        if (host is null)
        {
            await RefuseAsync(connection, 400, "Bad Request", MeshErrors.NotSupported, $"CONNECT needs host:port, got '{authority}'.").ConfigureAwait(false);
            return;
        }

        // Which hosts are the mesh's and which egress policies allow come with the first snapshot: wait for it, as the
        // HTTP pipeline does (UseFirstSnapshotWait), rather than refuse a tunnel the snapshot would allow.
        if (!status.FirstSnapshot.IsCompleted)
        {
            if (Interlocked.Exchange(ref _held, 1) == 0)
            {
                MeshProxyLog.HoldingTunnels(logger, ProxyEngineApplicationExtensions.FirstSnapshotWait.TotalSeconds);
            }

            try
            {
                await status.FirstSnapshot.WaitAsync(ProxyEngineApplicationExtensions.FirstSnapshotWait, connection.ConnectionClosed).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                MeshProxyLog.TunnelNotConfigured(logger, authority, ProxyEngineApplicationExtensions.FirstSnapshotWait.TotalSeconds);
                metrics.Record(Direction, options.Service, host.ToLowerInvariant(), "", 503, MeshErrors.NotConfigured, ProxyEngineApplicationExtensions.FirstSnapshotWait);
                await RefuseAsync(connection, 503, "Service Unavailable", MeshErrors.NotConfigured,
                    $"this proxy has had no configuration from the control plane yet (waited {ProxyEngineApplicationExtensions.FirstSnapshotWait.TotalSeconds:0.#} s), so it cannot tell whether {authority} may be called.").ConfigureAwait(false);
                return;
            }
        }

        if (hosts.Accepts(host))
        {
            await connection.Transport.Output.WriteAsync("HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray(), connection.ConnectionClosed).ConfigureAwait(false);
            await RelayAsync(connection).ConfigureAwait(false);
            return;
        }

        var started = time.GetTimestamp();
        var destination = host.ToLowerInvariant();
        if (egress.FindTunnel(host, port) is not { } allowed)
        {
            MeshProxyLog.TunnelRefused(logger, authority);
            await RefuseAsync(connection, 403, "Forbidden", MeshErrors.EgressDenied,
                $"no service named '{host}' is known to the mesh or referenced by '{options.Service}', and no egress policy allows it to call {authority}; add one to policies.egress.").ConfigureAwait(false);
            metrics.Record(Direction, options.Service, destination, "", 403, MeshErrors.EgressDenied, time.GetElapsedTime(started));
            return;
        }

        var route = $"egress/{allowed.Policy}";
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
            timeout.CancelAfter(ConnectTimeout);
            await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !connection.ConnectionClosed.IsCancellationRequested)
        {
            await RefuseAsync(connection, 502, "Bad Gateway", MeshErrors.UpstreamUnavailable, $"could not connect to {authority}: {ex.Message}").ConfigureAwait(false);
            metrics.Record(Direction, options.Service, destination, route, 502, MeshErrors.UpstreamUnavailable, time.GetElapsedTime(started));
            return;
        }

        MeshProxyLog.EgressTunnel(logger, authority, allowed.Policy);
        await connection.Transport.Output.WriteAsync("HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray(), connection.ConnectionClosed).ConfigureAwait(false);
        try
        {
            await JoinAsync(connection, socket).ConfigureAwait(false);
        }
        finally
        {
            // A tunnel is one request to the external host, lasting as long as the tunnel.
            metrics.Record(Direction, options.Service, destination, route, 200, "", time.GetElapsedTime(started));
        }
    }

    /// <summary>Joins the tunnel to the outbound listener for the protocol the client speaks in it.</summary>
    private async Task RelayAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var result = await input.ReadAsync(connection.ConnectionClosed).ConfigureAwait(false);
        while (result.Buffer.Length < Http2Preface.Length && StartsLike(result.Buffer, Http2Preface) && !result.IsCompleted)
        {
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            result = await input.ReadAsync(connection.ConnectionClosed).ConfigureAwait(false);
        }

        var buffer = result.Buffer;
        var http2 = buffer.Length >= Http2Preface.Length && StartsLike(buffer, Http2Preface);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, (http2 ? ports.Http2Url : ports.Http1Url).Port, connection.ConnectionClosed).ConfigureAwait(false);
        foreach (var segment in buffer)
        {
            for (var rest = segment; !rest.IsEmpty;)
            {
                rest = rest[await socket.SendAsync(rest, connection.ConnectionClosed).ConfigureAwait(false)..];
            }
        }

        input.AdvanceTo(buffer.End);
        await JoinAsync(connection, socket).ConfigureAwait(false);
    }

    /// <summary>Copies bytes both ways between the tunnel and <paramref name="socket"/> until either side ends.</summary>
    private static async Task JoinAsync(ConnectionContext connection, Socket socket)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var stream = new NetworkStream(socket, ownsSocket: false);
        await using (stream.ConfigureAwait(false))
        {
            var up = Task.Run(async () =>
            {
                try
                {
                    await input.CopyToAsync(stream).ConfigureAwait(false);
                    socket.Shutdown(SocketShutdown.Send);
                }
                catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or ConnectionAbortedException or OperationCanceledException)
                {
                }
            });
            try
            {
                await stream.CopyToAsync(output).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or ConnectionAbortedException or OperationCanceledException)
            {
            }

            // The listener behind the tunnel has finished: so has the tunnel.
            await output.CompleteAsync().ConfigureAwait(false);
            connection.Abort();
            await up.ConfigureAwait(false);
        }
    }

    private static async Task RefuseAsync(ConnectionContext connection, int status, string phrase, string reason, string message)
    {
        var body = Encoding.UTF8.GetBytes(message + "\n");
        var head = $"HTTP/1.1 {status} {phrase}\r\n{MeshHeaders.Error}: {reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {body.Length}\r\nconnection: close\r\n\r\n";
        var output = connection.Transport.Output;
        await output.WriteAsync(Encoding.ASCII.GetBytes(head)).ConfigureAwait(false);
        await output.WriteAsync(body).ConfigureAwait(false);
        await output.CompleteAsync().ConfigureAwait(false);
    }

    private static SequencePosition? FindHeadEnd(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> _, HeadEnd, advancePastDelimiter: true) ? reader.Position : null;
    }

    private static bool StartsLike(ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> prefix)
    {
        Span<byte> start = stackalloc byte[prefix.Length];
        var length = (int)Math.Min(buffer.Length, prefix.Length);
        buffer.Slice(0, length).CopyTo(start);
        return start[..length].SequenceEqual(prefix[..length]);
    }

    /// <summary>The host and port of a CONNECT authority (<c>host:port</c> or <c>[v6]:port</c>); a null host when it is not one.</summary>
    private static (string? Host, int Port) HostOf(string authority)
    {
        var colon = authority.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(authority.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
        {
            return (null, 0);
        }

        var host = authority[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        return (host.Length == 0 ? null : host, port);
    }
}
