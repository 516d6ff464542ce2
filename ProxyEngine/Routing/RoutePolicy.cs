using System.Text.RegularExpressions;
using System.Threading.RateLimiting;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>What a route does beyond matching: split, redirect, inject faults, limit. Compiled once per snapshot.</summary>
internal sealed class RoutePolicy
{
    public RoutePolicy(RouteSnapshot route, RouteLimiter? limiter)
    {
        Route = route;
        Limiter = limiter;
        var weighted = route.Backends.Where(b => b.Weight > 0).ToList();
        if (weighted.Count > 1)
        {
            var total = (double)weighted.Sum(b => b.Weight);
            var cumulative = 0.0;
            Split = [.. weighted.Select(b => (b.Name, cumulative += b.Weight / total))];
        }

        Redirect = route.Filters.Select(f => f.RequestRedirect).FirstOrDefault(r => r is not null);
        RequestTimeout = route.Timeouts?.Request is { } request ? MeshDuration.Parse(request) : null;
        TryTimeout = route.Timeouts?.BackendRequest is { } backend ? MeshDuration.Parse(backend) : null;
        Backoff = route.Retry is { } retry ? MeshDuration.Parse(retry.Backoff) : TimeSpan.Zero;
        PathRegex = route.Path is { Type: PathMatchTypes.RegularExpression } path ? Whole(path.Value) : null;
        HeaderRegexes = [.. route.Headers.Where(h => h.Type == MatchTypes.RegularExpression).Select(h => (h.Name, Whole(h.Value)))];
        QueryRegexes = [.. route.QueryParams.Where(q => q.Type == MatchTypes.RegularExpression).Select(q => (q.Name, Whole(q.Value)))];
        Fault = route.Filters.Select(f => f.FaultInjection).FirstOrDefault(r => r is not null);
        Mirrors = [.. route.Filters.Select(f => f.RequestMirror).OfType<Contracts.Config.RequestMirror>()];
        Delay = Fault?.Delay is { } delay ? MeshDuration.Parse(delay.FixedDelay) : TimeSpan.Zero;
        Cors = route.Filters.Select(f => f.Cors).FirstOrDefault(c => c is not null) is { } cors ? new CorsPolicy(cors) : null;
    }

    /// <summary>The route's CORS filter, applied by <see cref="CorsMiddleware"/>; null: none.</summary>
    public CorsPolicy? Cors { get; }

    public RouteSnapshot Route { get; }

    /// <summary>Backends and their cumulative share, when the route splits traffic.</summary>
    public IReadOnlyList<(string Cluster, double UpTo)>? Split { get; }

    public RequestRedirect? Redirect { get; }

    public FaultInjection? Fault { get; }

    /// <summary>Services that receive copies of the route's requests.</summary>
    public IReadOnlyList<Contracts.Config.RequestMirror> Mirrors { get; }

    public TimeSpan Delay { get; }

    /// <summary>Limit for the whole request, retries included.</summary>
    public TimeSpan? RequestTimeout { get; }

    /// <summary>Limit for each attempt.</summary>
    public TimeSpan? TryTimeout { get; }

    /// <summary>Base of the exponential backoff between retries.</summary>
    public TimeSpan Backoff { get; }

    /// <summary>A path the route's regular expression must match whole, if any.</summary>
    public Regex? PathRegex { get; }

    /// <summary>Headers whose value a regular expression must match whole.</summary>
    public IReadOnlyList<(string Name, Regex Pattern)> HeaderRegexes { get; }

    /// <summary>Query parameters whose value a regular expression must match whole.</summary>
    public IReadOnlyList<(string Name, Regex Pattern)> QueryRegexes { get; }

    /// <summary>Whether matching needs a regular expression.</summary>
    public bool HasRegex => PathRegex is not null || HeaderRegexes.Count > 0 || QueryRegexes.Count > 0;

    /// <summary>Whether the request satisfies the route's regular expressions.</summary>
    public bool MatchesRegexes(HttpRequest request)
    {
        try
        {
            return (PathRegex is null || PathRegex.IsMatch(request.Path.Value ?? "/"))
                && HeaderRegexes.All(h => request.Headers.TryGetValue(h.Name, out var values) && values.Any(v => v is not null && h.Pattern.IsMatch(v)))
                && QueryRegexes.All(q => request.Query.TryGetValue(q.Name, out var values) && values.Any(v => v is not null && q.Pattern.IsMatch(v)));
        }
        catch (RegexMatchTimeoutException)
        {
            // A pathological input against a pattern: no match, rather than a stalled request.
            return false;
        }
    }

    /// <summary>Whole-value match, invariant culture, with a time limit against catastrophic backtracking.</summary>
    private static Regex Whole(string pattern) =>
        new($"^(?:{pattern})$", RegexOptions.CultureInvariant | RegexOptions.Compiled, TimeSpan.FromMilliseconds(50));
    public RouteLimiter? Limiter { get; }

    /// <summary>The backend for a draw in [0, 1).</summary>
    public string PickBackend(double draw)
    {
        foreach (var (cluster, upTo) in Split!)
        {
            if (draw < upTo)
            {
                return cluster;
            }
        }

        return Split![^1].Cluster;
    }
}

/// <summary>A route's token bucket: one for the route, or one per source (client address).</summary>
internal sealed class RouteLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<HttpContext> _limiter;

    public RouteLimiter(RateLimitPolicy policy)
        : this(policy, context => context.Connection.RemoteIpAddress?.ToString() ?? "unknown")
    {
    }

    /// <summary>A limiter whose per-source buckets are keyed by <paramref name="source"/>.</summary>
    public RouteLimiter(RateLimitPolicy policy, Func<HttpContext, string> source)
    {
        Policy = policy;
        var options = new TokenBucketRateLimiterOptions
        {
            TokenLimit = policy.Burst ?? policy.Requests,
            TokensPerPeriod = policy.Requests,
            ReplenishmentPeriod = MeshDuration.Parse(policy.Period),
            QueueLimit = 0,
            AutoReplenishment = true,
        };
        _limiter = PartitionedRateLimiter.Create<HttpContext, string>(context => RateLimitPartition.GetTokenBucketLimiter(
            policy.Per == "Source" ? source(context) : "target", _ => options));
    }

    public RateLimitPolicy Policy { get; }

    public RateLimitLease Acquire(HttpContext context) => _limiter.AttemptAcquire(context);

    public void Dispose() => _limiter.Dispose();
}
