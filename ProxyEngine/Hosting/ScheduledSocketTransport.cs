using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// Kestrel's socket transport with the scheduling chosen per listener (<see cref="IoScheduling.RunsInline"/>): a
/// listener's connections either run the application on the thread that read their data, or hand it to the thread pool.
/// </summary>
internal sealed class ScheduledSocketTransport(IoMode mode, IOptions<KestrelServerOptions> kestrel, ILoggerFactory loggers)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly SocketTransportFactory _inline = new(Options.Create(new SocketTransportOptions { UnsafePreferInlineScheduling = true }), loggers);
    private readonly SocketTransportFactory _pool = new(Options.Create(new SocketTransportOptions()), loggers);
    private readonly ConcurrentQueue<(EndPoint EndPoint, bool Inline)> _bound = new();

    /// <summary>The endpoints bound so far, and whether each runs inline.</summary>
    public IEnumerable<(EndPoint EndPoint, bool Inline)> Bound => _bound;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var inline = IoScheduling.RunsInline(mode, kestrel.Value, endpoint);
        _bound.Enqueue((endpoint, inline));
        return (inline ? _inline : _pool).BindAsync(endpoint, cancellationToken);
    }

    public bool CanBind(EndPoint endpoint) => _pool.CanBind(endpoint);
}
