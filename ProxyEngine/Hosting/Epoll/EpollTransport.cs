using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace AspireMesh.ProxyEngine.Hosting.Epoll;

/// <summary>
/// Kestrel listeners whose connections run on the process's <see cref="EpollLoop"/>s (one per core), each connection
/// on one loop from accept to close. Accepting stays with .NET's socket engine: with keep-alive it is rare.
/// </summary>
internal sealed class EpollTransport(MemoryPool<byte> pool, EpollLoops loops)
{
    /// <summary>
    /// <see cref="System.Net.Http.SocketsHttpHandler.ConnectCallback"/> for a handler's upstreams: cleartext ones on
    /// <paramref name="loops"/>, so a response is relayed on the thread that read it; TLS ones on .NET's engine.
    /// </summary>
    public static Func<System.Net.Http.SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectCallback(EpollLoops loops) =>
        (context, cancellationToken) => ConnectAsync(context.DnsEndPoint, context.InitialRequestMessage, loops, cancellationToken);

    /// <summary>Connects to <paramref name="endpoint"/> for <paramref name="request"/>: on one of <paramref name="loops"/> when its scheme is http.</summary>
    public static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, System.Net.Http.HttpRequestMessage request, EpollLoops loops, CancellationToken cancellationToken)
    {
        if (request.RequestUri?.Scheme == Uri.UriSchemeHttp)
        {
            return await EpollStream.ConnectAsync(endpoint.Host, endpoint.Port, loops.Next(), cancellationToken).ConfigureAwait(false);
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
        return new EpollConnection(socket, loops.Next(), pool, maxReadBufferSize: 1024 * 1024, maxWriteBufferSize: 64 * 1024);
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
