using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ControlPlane.Proxies;
using AspireMesh.ControlPlane.Snapshots;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Config;

/// <summary>
/// A dry run: generates every proxy's snapshot from the current state and from the state the candidate config would
/// give (same instances), and lists, per proxy, the routes, backends and policies that would be added, removed or changed.
/// </summary>
internal static class ConfigPlanner
{
    public static ConfigPlan Plan(MeshState current, MeshConfig candidate, IReadOnlyList<ProxyInfo> proxies)
    {
        var next = new MeshState(current.Version, candidate, current.Instances, current.ConfigVersion + 1);
        var services = current.ServiceNames.Union(next.ServiceNames, StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var gateways = current.Config.Routes.Concat(candidate.Routes).SelectMany(r => r.ParentRefs)
            .Where(p => p.Kind == ParentKinds.Gateway).Select(p => p.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);

        var plans = new List<ProxyPlan>();
        foreach (var service in services)
        {
            plans.Add(Compare(ProxyKinds.Sidecar, service, SnapshotGenerator.ForSidecar(current, service), SnapshotGenerator.ForSidecar(next, service), proxies));
        }

        foreach (var gateway in gateways)
        {
            plans.Add(Compare(ProxyKinds.Gateway, gateway, SnapshotGenerator.ForGateway(current, gateway), SnapshotGenerator.ForGateway(next, gateway), proxies));
        }

        return new ConfigPlan(current.ConfigVersion, plans);
    }

    private static ProxyPlan Compare(string kind, string name, ProxySnapshot before, ProxySnapshot after, IReadOnlyList<ProxyInfo> proxies) => new(
        kind,
        name,
        [.. proxies.Where(p => p.Kind == kind && p.Name == name && p.Watching).Select(p => p.Id)],
        Diff(before.Routes, after.Routes, r => r.Name, r => JsonSerializer.Serialize(r, MeshJsonContext.Default.RouteSnapshot)),
        Diff(before.Clusters, after.Clusters, c => c.Name, c => JsonSerializer.Serialize(c, MeshJsonContext.Default.ClusterSnapshot)),
        Diff(Policies(before), Policies(after), p => p.Key, p => p.Json));

    private static IEnumerable<(string Key, string Json)> Policies(ProxySnapshot snapshot) =>
        snapshot.Inbound.Authorization.Select(p => ($"authorization/{p.Name}", JsonSerializer.Serialize(p, MeshJsonContext.Default.AuthorizationPolicy)))
            .Concat(snapshot.Inbound.RateLimits.Select(p => ($"rateLimit/{p.Name}", JsonSerializer.Serialize(p, MeshJsonContext.Default.RateLimitPolicy))))
            .Concat(snapshot.Inbound.Authentication is { } authentication
                ? [($"authentication/{authentication.Name}", JsonSerializer.Serialize(authentication, MeshJsonContext.Default.AuthenticationPolicy))]
                : [])
            .Concat(snapshot.Egress.Select(p => ($"egress/{p.Name}", JsonSerializer.Serialize(p, MeshJsonContext.Default.EgressPolicy))))
            .Concat(snapshot.Clusters.Where(c => c.Policy is not null).Select(c => ($"backend/{c.Policy!.Name}", JsonSerializer.Serialize(c.Policy, MeshJsonContext.Default.BackendPolicy))))
            // Which headers only gateways may send (every JWT policy's claimsToHeaders): one entry, changed with the list.
            .Append(("gatewayIdentityHeaders", string.Join(',', snapshot.Inbound.GatewayIdentityHeaders)));

    private static ChangeSet Diff<T>(IEnumerable<T> before, IEnumerable<T> after, Func<T, string> key, Func<T, string> content)
    {
        var old = before.ToDictionary(key, content, StringComparer.Ordinal);
        var @new = after.ToDictionary(key, content, StringComparer.Ordinal);
        return new ChangeSet(
            [.. @new.Keys.Except(old.Keys).Order(StringComparer.Ordinal)],
            [.. old.Keys.Except(@new.Keys).Order(StringComparer.Ordinal)],
            [.. @new.Keys.Intersect(old.Keys).Where(k => old[k] != @new[k]).Order(StringComparer.Ordinal)]);
    }
}
