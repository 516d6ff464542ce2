using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// Kestrel's transport with the scheduling chosen per listener (<see cref="IoScheduling.RunsInline"/>): a listener's
/// connections either run the application on the thread that read their data, or hand it to the thread pool. Under
/// <see cref="IoMode.Auto"/> on Linux, the listeners that run inline do so on the proxy's own event loops
/// (<see cref="Epoll.EpollTransport"/>), elsewhere on .NET's socket engine.
/// </summary>
internal sealed class ScheduledSocketTransport(IoMode mode, IOptions<KestrelServerOptions> kestrel, ILoggerFactory loggers, IMemoryPoolFactory<byte>? pools = null)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly Lazy<Epoll.EpollTransport> _epoll = new(() => new Epoll.EpollTransport(pools?.Create() ?? System.Buffers.MemoryPool<byte>.Shared));

    private readonly SocketTransportFactory _inline = new(Options.Create(new SocketTransportOptions { UnsafePreferInlineScheduling = true }), loggers);
    private readonly SocketTransportFactory _pool = new(Options.Create(new SocketTransportOptions()), loggers);
    private readonly ConcurrentQueue<(EndPoint EndPoint, bool Inline, bool OwnLoops)> _bound = new();

    /// <summary>The endpoints bound so far, whether each runs inline, and whether on the proxy's own event loops.</summary>
    public IEnumerable<(EndPoint EndPoint, bool Inline, bool OwnLoops)> Bound => _bound;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var inline = IoScheduling.RunsInline(mode, kestrel.Value, endpoint);
        if (inline && IoScheduling.UsesOwnLoops(mode) && endpoint is IPEndPoint ip)
        {
            _bound.Enqueue((endpoint, true, true));
            return ValueTask.FromResult(_epoll.Value.Bind(ip));
        }

        _bound.Enqueue((endpoint, inline, false));

        return (inline ? _inline : _pool).BindAsync(endpoint, cancellationToken);
    }

    public bool CanBind(EndPoint endpoint) => _pool.CanBind(endpoint);
}
