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
    private readonly Lazy<Epoll.EpollTransport> _epoll = new(() => new Epoll.EpollTransport(pools?.Create() ?? System.Buffers.MemoryPool<byte>.Shared, loops ?? Epoll.EpollLoops.Process));

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
            _loops.UseLogger(_log);
            if (_loops.Available)
            {
                _bound.Enqueue((endpoint, true, true));
                return ValueTask.FromResult(_epoll.Value.Bind(ip));
            }

            ProxyEngineLog.EpollLoopsUnavailable(_log, _loops.Failure ?? "unknown", endpoint.ToString() ?? "a listener");
        }

        _bound.Enqueue((endpoint, inline, false));

        return (inline ? _inline : _pool).BindAsync(endpoint, cancellationToken);
    }

    public bool CanBind(EndPoint endpoint) => _pool.CanBind(endpoint);
}
