using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Snapshots;

/// <summary>Generates the snapshot one proxy needs, and nothing more, from an immutable <see cref="MeshState"/>.</summary>
internal static class SnapshotGenerator
{
    /// <summary>
    /// A sidecar of <paramref name="service"/>: for each service it references, the east-west routes attached to that
    /// service (most specific first) and a default route on its name (<c>http://catalog/</c>); the clusters those
    /// routes use; the inbound policies of its own service; the egress it may use. A service that is not declared
    /// (started by hand) may call every service.
    /// </summary>
    public static ProxySnapshot ForSidecar(MeshState state, string service)
    {
        var declared = state.DeclaredServices.GetValueOrDefault(service);
        var targets = declared is null ? state.ServiceNames : declared.References.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var routes = new List<(RouteSnapshot Route, Rank Rank)>();
        var clusters = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var target in targets)
        {
            clusters.Add(target);
            foreach (var route in state.RoutesOf(ParentKinds.Service, target))
            {
                routes.AddRange(Expand(state, route, [target], clusters));
            }

            routes.Add((new RouteSnapshot($"service/{target}", [target], null, target) { Backends = [new BackendReference { Name = target }] }, Rank.Fallback));
        }

        var authentication = state.Config.Policies.Authentication.FirstOrDefault(p => p.TargetRef.Kind == ParentKinds.Service && p.TargetRef.Name == service);
        List<AuthorizationPolicy> authorization = [.. state.Config.Policies.Authorization.Where(p => p.TargetRef.Name == service)];
        List<string> requires = [];
        if (authentication is not null)
        {
            requires.Add(SnapshotFeatures.ServiceAuthentication);
        }

        if (authorization.Any(p => p.Rules.Any(r => r.RequestPrincipals.Count > 0)))
        {
            requires.Add(SnapshotFeatures.RequestPrincipals);
        }

        return Build(state, routes, clusters) with
        {
            // What a proxy must implement not to serve the service with less checked than asked: one that cannot refuses the snapshot.
            Requires = requires.Count == 0 ? null : requires,
            Inbound = new InboundPolicySnapshot
            {
                Authentication = authentication,
                Authorization = authorization,
                RateLimits = [.. state.Config.Policies.RateLimits.Where(p => p.TargetRef.Kind == "Service" && p.TargetRef.Name == service)],
                Mtls = declared?.Mtls ?? MtlsModes.Strict,
                HealthCheckPath = state.BackendPolicies.GetValueOrDefault(service)?.HealthCheck?.Path,
                GatewayIdentityHeaders = GatewayIdentityHeaders.Of(state.Config.Policies.Authentication),
            },
            Egress = [.. state.Config.Policies.Egress.Where(p => p.FromServices.Count == 0 || p.FromServices.Contains(service))],
        };
    }

    /// <summary>
    /// A gateway: the routes attached to it, by Gateway API precedence, each with its authentication policy (the route's
    /// own, else the gateway's), the clusters they use, and the headers only gateways may set.
    /// </summary>
    public static ProxySnapshot ForGateway(MeshState state, string gateway)
    {
        var routes = new List<(RouteSnapshot Route, Rank Rank)>();
        var clusters = new SortedSet<string>(StringComparer.Ordinal);
        var authentication = state.Config.Policies.Authentication;
        var gatewayAuthentication = authentication.FirstOrDefault(p => p.TargetRef.Kind == ParentKinds.Gateway && p.TargetRef.Name == gateway);
        foreach (var route in state.RoutesOf(ParentKinds.Gateway, gateway))
        {
            var policy = authentication.FirstOrDefault(p => p.TargetRef.Kind == "Route" && p.TargetRef.Name == route.Name) ?? gatewayAuthentication;
            routes.AddRange(Expand(state, route, route.Hostnames, clusters).Select(r => (r.Item1 with { Authentication = policy }, r.Item2)));
        }

        return Build(state, routes, clusters) with
        {
            // A gateway's clients are never gateways: it removes what they send in these headers on every route.
            Inbound = new InboundPolicySnapshot { GatewayIdentityHeaders = GatewayIdentityHeaders.Of(authentication) },
        };
    }

    private static ProxySnapshot Build(MeshState state, List<(RouteSnapshot Route, Rank Rank)> routes, SortedSet<string> clusters)
    {
        var ordered = routes.OrderBy(r => r.Rank).Select((r, i) => r.Route with { Order = i }).ToList();
        return new ProxySnapshot(state.Version, ordered, [.. clusters.Select(name => new ClusterSnapshot(name,
            [.. state.InstancesOf(name).Where(i => i.Healthy).Select(i => new EndpointSnapshot(i.Id, i.Address)
            {
                Http2Address = i.Http2Address,
                // Secure naming: the identity a caller must see is the control plane's to say, never the instance's.
                Identity = i.IdentityIn(state.Trust.TrustDomain),
            })])
        {
            Policy = state.BackendPolicies.GetValueOrDefault(name),
        })])
        {
            ConfigVersion = state.ConfigVersion,
            TrustBundle = state.Trust.Bundle,
        };
    }

    private static IEnumerable<(RouteSnapshot, Rank)> Expand(MeshState state, HttpRouteConfig route, IReadOnlyList<string> hosts, SortedSet<string> clusters)
    {
        var rateLimit = state.Config.Policies.RateLimits.FirstOrDefault(p => p.TargetRef.Kind == "Route" && p.TargetRef.Name == route.Name);
        for (var r = 0; r < route.Rules.Count; r++)
        {
            var rule = route.Rules[r];
            var backends = rule.BackendRefs.Where(b => b.Weight > 0).ToList();
            foreach (var backend in backends)
            {
                clusters.Add(backend.Name);
            }

            foreach (var mirror in rule.Filters.Where(f => f.RequestMirror is not null))
            {
                clusters.Add(mirror.RequestMirror!.BackendRef.Name);
            }

            var matches = rule.Matches.Count == 0 ? [new HttpRouteMatch()] : rule.Matches;
            for (var m = 0; m < matches.Count; m++)
            {
                var match = matches[m];
                var path = match.Path ?? new HttpPathMatch();
                yield return (new RouteSnapshot($"{route.Name}/rules/{r}/matches/{m}", hosts.Count == 0 ? null : hosts, new PathMatchSnapshot(path.Type, path.Value),
                    backends.FirstOrDefault()?.Name ?? "")
                {
                    Headers = match.Headers,
                    QueryParams = match.QueryParams,
                    Method = match.Method,
                    Backends = backends,
                    Filters = rule.Filters,
                    Timeouts = rule.Timeouts,
                    Retry = rule.Retry,
                    RateLimit = rateLimit,
                }, Rank.Of(hosts, path, match));
            }
        }
    }

    /// <summary>
    /// Gateway API precedence: exact host over wildcard over any; exact path over prefix (longer first) over regular
    /// expression; then a method; then more header matches; then more query matches.
    /// </summary>
    private readonly record struct Rank(int Host, int PathKind, int PathLength, int Method, int Headers, int Queries) : IComparable<Rank>
    {
        public static readonly Rank Fallback = new(3, 3, 0, 1, 0, 0);

        public static Rank Of(IReadOnlyList<string> hosts, HttpPathMatch path, HttpRouteMatch match) => new(
            hosts.Count == 0 ? 2 : hosts.All(h => !h.StartsWith('*')) ? 0 : 1,
            path.Type switch { MatchTypes.Exact => 0, MatchTypes.PathPrefix => 1, _ => 2 },
            -path.Value.Length,
            match.Method is null ? 1 : 0,
            -match.Headers.Count,
            -match.QueryParams.Count);

        public int CompareTo(Rank other)
        {
            var byHost = Host.CompareTo(other.Host);
            if (byHost != 0)
            {
                return byHost;
            }

            var byKind = PathKind.CompareTo(other.PathKind);
            if (byKind != 0)
            {
                return byKind;
            }

            var byLength = PathLength.CompareTo(other.PathLength);
            if (byLength != 0)
            {
                return byLength;
            }

            var byMethod = Method.CompareTo(other.Method);
            return byMethod != 0 ? byMethod : Headers != other.Headers ? Headers.CompareTo(other.Headers) : Queries.CompareTo(other.Queries);
        }
    }
}
