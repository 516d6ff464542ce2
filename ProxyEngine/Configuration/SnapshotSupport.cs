using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ProxyEngine.Configuration;

/// <summary>
/// Lists what a snapshot asks for that this proxy does not implement yet. A proxy refuses such a snapshot whole,
/// says why, and keeps serving its previous one: silently ignoring a policy would be worse than refusing it.
/// </summary>
internal static class SnapshotSupport
{
    private static readonly HashSet<string> SupportedFilters =
        [FilterTypes.RequestHeaderModifier, FilterTypes.ResponseHeaderModifier, FilterTypes.UrlRewrite, FilterTypes.RequestRedirect, FilterTypes.FaultInjection, FilterTypes.RequestMirror, FilterTypes.Cors];

    /// <summary>Load-balancing policies by the config's names (YARP's, and the mesh's own).</summary>
    public static readonly IReadOnlyDictionary<string, string> LoadBalancers = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["RoundRobin"] = "RoundRobin",
        ["LeastRequest"] = "LeastRequests",
        ["PowerOfTwoChoices"] = LoadBalancing.MeshLoadBalancingPolicies.PeakEwma,
        ["ConsistentHash"] = LoadBalancing.MeshLoadBalancingPolicies.ConsistentHash,
    };

    /// <summary>The features (<see cref="ProxySnapshot.Requires"/>) this build implements beyond 0.1.0's baseline.</summary>
    public static readonly IReadOnlySet<string> Features = new HashSet<string>([SnapshotFeatures.ServiceAuthentication, SnapshotFeatures.RequestPrincipals], StringComparer.Ordinal);

    public static IReadOnlyList<string> Unsupported(ProxySnapshot snapshot)
    {
        var missing = new List<string>();
        missing.AddRange((snapshot.Requires ?? []).Where(f => !Features.Contains(f))
            .Select(f => $"the feature '{f}' the control plane requires (this proxy is {AspireMesh.Contracts.MeshBuild.Version}: upgrade it)"));
        foreach (var route in snapshot.Routes)
        {
            var where = $"route '{route.Name}'";
            missing.AddRange(route.Filters.Where(f => !SupportedFilters.Contains(f.Type)).Select(f => $"{where}: the {f.Type} filter"));
            // What this build cannot read of a filter it has is refused too, rather than failing when applied.
            missing.AddRange(route.Filters.Where(f => f.Type == FilterTypes.Cors)
                .SelectMany(f => f.Cors?.AllowOrigins ?? [])
                .Where(o => CorsOrigin.Problem(o) is not null)
                .Select(o => $"{where}: the CORS origin '{o}' ({CorsOrigin.Problem(o)})"));
        }

        foreach (var cluster in snapshot.Clusters.Where(c => c.Policy is not null))
        {
            var policy = cluster.Policy!;
            var where = $"backend policy '{policy.Name}'";
            if (policy.LoadBalancer is { } lb && !LoadBalancers.ContainsKey(lb.Type))
            {
                missing.Add($"{where}: the {lb.Type} load balancer");
            }

            if (policy.SlowStart is not null && policy.LoadBalancer?.Type is not (null or "PowerOfTwoChoices"))
            {
                missing.Add($"{where}: slow start with the {policy.LoadBalancer!.Type} load balancer (it needs PowerOfTwoChoices)");
            }
        }

        return missing;
    }
}
