using System.Collections.Frozen;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>
/// The compiled policies of the routes being served, swapped with each snapshot. A rate limiter survives a snapshot
/// that leaves its policy unchanged, so an unrelated change (an endpoint joining) does not refill every bucket.
/// </summary>
internal sealed class RouteTable(RoutedHosts hosts)
{
    private readonly Lock _gate = new();
    private FrozenDictionary<string, RoutePolicy> _routes = FrozenDictionary<string, RoutePolicy>.Empty;
    private FrozenDictionary<string, BackendPolicy> _backends = FrozenDictionary<string, BackendPolicy>.Empty;
    private Dictionary<string, RouteLimiter> _limiters = new(StringComparer.Ordinal);

    private volatile bool _anyCors;

    public RoutePolicy? Find(string routeId) => Volatile.Read(ref _routes).GetValueOrDefault(routeId);

    /// <summary>Whether any route being served has a CORS filter: when none has, requests skip looking for one.</summary>
    public bool AnyCors => _anyCors;

    /// <summary>The backend policy of a cluster, if any.</summary>
    public BackendPolicy? Backend(string cluster) => Volatile.Read(ref _backends).GetValueOrDefault(cluster);

    public void Apply(ProxySnapshot snapshot)
    {
        lock (_gate)
        {
            var limiters = new Dictionary<string, RouteLimiter>(StringComparer.Ordinal);
            var routes = new Dictionary<string, RoutePolicy>(StringComparer.Ordinal);
            foreach (var route in snapshot.Routes)
            {
                RouteLimiter? limiter = null;
                if (route.RateLimit is { } policy)
                {
                    var key = $"{route.Name}|{JsonSerializer.Serialize(policy, MeshJsonContext.Default.RateLimitPolicy)}";
                    limiter = _limiters.GetValueOrDefault(key) ?? new RouteLimiter(policy);
                    limiters[key] = limiter;
                }

                routes[route.Name] = new RoutePolicy(route, limiter);
            }

            foreach (var (key, old) in _limiters)
            {
                if (!limiters.ContainsKey(key))
                {
                    old.Dispose();
                }
            }

            _limiters = limiters;
            Volatile.Write(ref _backends, snapshot.Clusters.Where(c => c.Policy is not null).ToFrozenDictionary(c => c.Name, c => c.Policy!, StringComparer.Ordinal));
            Volatile.Write(ref _routes, routes.ToFrozenDictionary(StringComparer.Ordinal));
            _anyCors = routes.Values.Any(r => r.Cors is not null);
            hosts.Apply(snapshot.Routes);
        }
    }
}
