using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace AspireMesh.ProxyEngine.Hosting.Epoll;

/// <summary>
/// Kestrel listeners whose connections run on the process's <see cref="EpollLoop"/>s (one per core), each connection
/// on one loop from accept to close. Accepting stays with .NET's socket engine: with keep-alive it is rare.
/// </summary>
internal sealed class EpollTransport(MemoryPool<byte> pool)
{
    private static readonly Lazy<EpollLoop[]> Loops = new(() =>
        [.. Enumerable.Range(0, Environment.ProcessorCount).Select(i => EpollLoop.Start($"epoll loop {i}"))]);

    private static int _next;

    /// <summary>
    /// <see cref="System.Net.Http.SocketsHttpHandler.ConnectCallback"/> for cleartext upstreams: their connections read
    /// on the loops too, so a response is relayed on the thread that read it. TLS connections stay with .NET's engine.
    /// </summary>
    public static ValueTask<Stream> ConnectAsync(System.Net.Http.SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        ConnectAsync(context.DnsEndPoint, context.InitialRequestMessage, cancellationToken);

    /// <summary>Connects to <paramref name="endpoint"/> for <paramref name="request"/>: on a loop when its scheme is http.</summary>
    public static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, System.Net.Http.HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri?.Scheme == Uri.UriSchemeHttp)
        {
            return await EpollStream.ConnectAsync(endpoint.Host, endpoint.Port, NextLoop(), cancellationToken).ConfigureAwait(false);
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static EpollLoop NextLoop()
    {
        var loops = Loops.Value;
        return loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)loops.Length)];
    }

    /// <summary>Binds a listening socket to <paramref name="endpoint"/> (an IP endpoint).</summary>
    public IConnectionListener Bind(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(endpoint);
            socket.Listen(512);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new AddressInUseException(ex.Message, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new Listener(this, socket);
    }

    private EpollConnection Open(Socket socket)
    {
        socket.NoDelay = true;
        socket.Blocking = false;
        return new EpollConnection(socket, NextLoop(), pool, maxReadBufferSize: 1024 * 1024, maxWriteBufferSize: 64 * 1024);
    }

    private sealed class Listener(EpollTransport transport, Socket socket) : IConnectionListener
    {
        public EndPoint EndPoint { get; } = socket.LocalEndPoint!;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                    return null;
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
                {
                    return null;
                }
                catch (SocketException)
                {
                    // The peer reset the connection before it was accepted: take the next.
                    continue;
                }

                try
                {
                    return transport.Open(accepted);
                }
                catch (Exception ex) when (ex is SocketException or InvalidOperationException)
                {
                    // This connection could not be set up (reset meanwhile, or epoll refused it): the listener goes on.
                    accepted.Dispose();
                }
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
