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
internal sealed class ScheduledSocketTransport(IoMode mode, IOptions<KestrelServerOptions> kestrel, ILoggerFactory loggers,
    IMemoryPoolFactory<byte>? pools = null, Epoll.EpollLoops? loops = null)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly Epoll.EpollLoops _loops = loops ?? Epoll.EpollLoops.Process;
    private readonly ILogger _log = loggers.CreateLogger("AspireMesh.ProxyEngine.Hosting.Epoll");
    private Epoll.EpollTransport? _epoll;

    private readonly SocketTransportFactory _inline = new(Options.Create(new SocketTransportOptions { UnsafePreferInlineScheduling = true }), loggers);
    private readonly SocketTransportFactory _pool = new(Options.Create(new SocketTransportOptions()), loggers);
    private readonly ConcurrentQueue<(EndPoint EndPoint, bool Inline, bool OwnLoops)> _bound = new();

    /// <summary>The endpoints bound so far, whether each runs inline, and whether on the proxy's own event loops.</summary>
    public IEnumerable<(EndPoint EndPoint, bool Inline, bool OwnLoops)> Bound => _bound;

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var inline = IoScheduling.RunsInline(mode, kestrel.Value, endpoint);
        var wantsOwnLoops = inline && IoScheduling.UsesOwnLoops(mode) && endpoint is IPEndPoint;
        if (wantsOwnLoops)
        {
            _loops.UseLogger(_log);
            if (_loops.Available)
            {
                // Kestrel binds a server's endpoints one after the other.
                _epoll ??= new Epoll.EpollTransport(pools?.Create() ?? System.Buffers.MemoryPool<byte>.Shared, _loops);
                _bound.Enqueue((endpoint, true, true));
                return _epoll.Bind((IPEndPoint)endpoint);
            }
        }

        _bound.Enqueue((endpoint, inline, false));
        var listener = await (inline ? _inline : _pool).BindAsync(endpoint, cancellationToken).ConfigureAwait(false);
        if (wantsOwnLoops)
        {
            ProxyEngineLog.EpollLoopsUnavailable(_log, _loops.Failure ?? "unknown", listener.EndPoint.ToString() ?? endpoint.ToString() ?? "a listener");
        }

        return listener;
    }

    public bool CanBind(EndPoint endpoint) => _pool.CanBind(endpoint);
}
