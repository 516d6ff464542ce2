using System.Collections.Frozen;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>
/// The host names the routes being served answer to, for decisions taken before there is a request to route
/// (a sidecar's outbound CONNECT tunnels). Follows every applied snapshot.
/// </summary>
public sealed class RoutedHosts
{
    private volatile Set _set = new(FrozenSet<string>.Empty, [], AnyHost: false);

    /// <summary>Whether some route serves <paramref name="host"/> (a name without port; matched case-insensitively, wildcards as Gateway API).</summary>
    public bool Accepts(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var set = _set;
        if (set.AnyHost || set.Exact.Contains(host))
        {
            return true;
        }

        foreach (var suffix in set.WildcardSuffixes)
        {
            // "*.example.com" matches "api.example.com", not "example.com" itself.
            if (host.Length > suffix.Length && host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    internal void Apply(IReadOnlyList<RouteSnapshot> routes)
    {
        var exact = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var wildcards = new List<string>();
        var any = false;
        foreach (var route in routes)
        {
            if (route.Hosts is not { Count: > 0 })
            {
                any = true;
                continue;
            }

            foreach (var host in route.Hosts)
            {
                if (host.StartsWith("*.", StringComparison.Ordinal))
                {
                    wildcards.Add(host[1..]);
                }
                else
                {
                    exact.Add(host);
                }
            }
        }

        _set = new Set(exact.ToFrozenSet(StringComparer.OrdinalIgnoreCase), [.. wildcards], any);
    }

    private sealed record Set(FrozenSet<string> Exact, string[] WildcardSuffixes, bool AnyHost);
}
