using System.Runtime.CompilerServices;
using System.Threading.Channels;
using AspireMesh.Contracts.Admin;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>
/// Live tap: the requests a proxy handles, streamed to whoever watches (the admin listener's <c>/tap</c>). Costs
/// nothing while nobody watches; a watcher that cannot keep up loses events rather than slowing requests down.
/// </summary>
public sealed class TapHub(string proxyId)
{
    private readonly Lock _gate = new();
    private volatile Channel<TapEvent>[] _watchers = [];

    /// <summary>The proxy the events come from.</summary>
    public string ProxyId { get; } = proxyId;

    /// <summary>Whether anyone watches (checked on the data path before building an event).</summary>
    public bool Active => _watchers.Length > 0;

    /// <summary>Hands an event to every watcher without waiting.</summary>
    public void Publish(TapEvent tapEvent)
    {
        foreach (var watcher in _watchers)
        {
            watcher.Writer.TryWrite(tapEvent);
        }
    }

    /// <summary>The events from now on that pass <paramref name="filter"/>, until <paramref name="cancellationToken"/> fires.</summary>
    public async IAsyncEnumerable<TapEvent> WatchAsync(TapFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var channel = Channel.CreateBounded<TapEvent>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_gate)
        {
            _watchers = [.. _watchers, channel];
        }

        try
        {
            await foreach (var tapEvent in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (filter.Matches(tapEvent))
                {
                    yield return tapEvent;
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _watchers = [.. _watchers.Where(w => w != channel)];
            }
        }
    }
}

/// <summary>
/// Which tapped requests to show: each given criterion must hold. From the query string: <c>method</c>, <c>path</c>
/// (prefix), <c>authority</c>, <c>source</c>, <c>destination</c>, <c>direction</c>, <c>status</c> (<c>503</c> or a class such as <c>5xx</c>).
/// </summary>
public sealed record TapFilter(string? Method = null, string? Path = null, string? Authority = null, string? Source = null, string? Destination = null,
    string? Direction = null, string? Status = null)
{
    /// <summary>Reads the filter from a query string.</summary>
    public static TapFilter From(IQueryCollection query)
    {
        ArgumentNullException.ThrowIfNull(query);
        static string? Get(IQueryCollection q, string key) => q.TryGetValue(key, out var v) && v.ToString() is { Length: > 0 } s ? s : null;
        return new(Get(query, "method"), Get(query, "path"), Get(query, "authority"), Get(query, "source"), Get(query, "destination"),
            Get(query, "direction"), Get(query, "status"));
    }

    /// <summary>Whether <paramref name="tapEvent"/> passes.</summary>
    public bool Matches(TapEvent tapEvent)
    {
        ArgumentNullException.ThrowIfNull(tapEvent);
        return (Method is null || string.Equals(Method, tapEvent.Method, StringComparison.OrdinalIgnoreCase))
            && (Path is null || tapEvent.Path.StartsWith(Path, StringComparison.Ordinal))
            && (Authority is null || string.Equals(Authority, tapEvent.Authority, StringComparison.OrdinalIgnoreCase))
            && (Source is null || string.Equals(Source, tapEvent.Source, StringComparison.Ordinal))
            && (Destination is null || string.Equals(Destination, tapEvent.Destination, StringComparison.Ordinal))
            && (Direction is null || string.Equals(Direction, tapEvent.Direction, StringComparison.Ordinal))
            && (Status is null || StatusMatches(tapEvent.Status));
    }

    private bool StatusMatches(int status) => Status!.Length == 3 && Status.EndsWith("xx", StringComparison.OrdinalIgnoreCase)
        ? Status[0] - '0' == status / 100
        : int.TryParse(Status, out var exact) && exact == status;
}
