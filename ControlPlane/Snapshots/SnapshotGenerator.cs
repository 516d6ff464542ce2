using AspireMesh.Contracts.Snapshots;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Snapshots;

/// <summary>Generates the snapshot one proxy needs from an immutable <see cref="MeshState"/>.</summary>
internal static class SnapshotGenerator
{
    /// <summary>
    /// A sidecar's outbound view: one route per service, matched on the Host its app calls (<c>http://catalog/</c>),
    /// each to a cluster of that service's healthy instances.
    /// </summary>
    public static ProxySnapshot ForSidecar(MeshState state)
    {
        var routes = new List<RouteSnapshot>(state.ServiceNames.Count);
        var clusters = new List<ClusterSnapshot>(state.ServiceNames.Count);
        foreach (var service in state.ServiceNames)
        {
            routes.Add(new RouteSnapshot($"service/{service}", [service], null, service));
            clusters.Add(Cluster(state, service));
        }

        return new ProxySnapshot(state.Version, routes, clusters);
    }

    /// <summary>
    /// A gateway's view: the routes attached to it, ordered by Gateway API precedence (exact before prefix,
    /// longer prefix before shorter), and the clusters those routes use.
    /// </summary>
    public static ProxySnapshot ForGateway(MeshState state, string gateway)
    {
        var routes = new List<(RouteSnapshot Route, int Rank)>();
        var used = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var route in state.Config.Routes)
        {
            if (!route.ParentRefs.Any(p => p.Name == gateway))
            {
                continue;
            }

            for (var r = 0; r < route.Rules.Count; r++)
            {
                var rule = route.Rules[r];
                var backend = rule.BackendRefs.Where(b => b.Weight > 0).Select(b => b.Name).FirstOrDefault();
                if (backend is null)
                {
                    continue;
                }

                used.Add(backend);
                var matches = rule.Matches.Count == 0 ? [new() { Path = new() }] : rule.Matches;
                for (var m = 0; m < matches.Count; m++)
                {
                    var path = matches[m].Path ?? new();
                    routes.Add((new RouteSnapshot($"{route.Name}/rules/{r}/matches/{m}", null, new PathMatchSnapshot(path.Type, path.Value), backend), Rank(path.Type, path.Value)));
                }
            }
        }

        var ordered = routes
            .OrderBy(r => r.Rank)
            .Select((r, i) => r.Route with { Order = i })
            .ToList();
        return new ProxySnapshot(state.Version, ordered, [.. used.Select(s => Cluster(state, s))]);
    }

    private static int Rank(string type, string value) =>
        (type == PathMatchTypes.Exact ? 0 : 100_000) - Math.Min(value.Length, 99_999);

    private static ClusterSnapshot Cluster(MeshState state, string service) =>
        new(service, [.. state.InstancesOf(service).Where(i => i.Healthy).Select(i => new EndpointSnapshot(i.Id, i.Address))]);
}
