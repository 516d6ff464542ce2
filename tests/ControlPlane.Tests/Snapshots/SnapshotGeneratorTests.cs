using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.Snapshots;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Tests.Snapshots;

public sealed class SnapshotGeneratorTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly MeshConfig Config = new()
    {
        Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog", References = ["inventory"] }, new() { Name = "catalog-v2" }, new() { Name = "inventory" }],
        Routes =
        [
            new() { Name = "home", ParentRefs = [new() { Name = "gateway" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/" } }], BackendRefs = [new() { Name = "frontend" }] }] },
            new() { Name = "api", ParentRefs = [new() { Name = "gateway" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/api" } }], BackendRefs = [new() { Name = "catalog" }] }] },
            new() { Name = "exact", ParentRefs = [new() { Name = "gateway" }], Rules = [new() { Matches = [new() { Path = new() { Type = "Exact", Value = "/" } }], BackendRefs = [new() { Name = "inventory" }] }] },
            new() { Name = "shop", ParentRefs = [new() { Name = "gateway" }], Hostnames = ["shop.example.com"], Rules = [new() { BackendRefs = [new() { Name = "frontend" }] }] },
            new() { Name = "other", ParentRefs = [new() { Name = "internal" }], Rules = [new() { BackendRefs = [new() { Name = "inventory" }] }] },
            new()
            {
                Name = "canary", ParentRefs = [new() { Kind = "Service", Name = "catalog" }],
                Rules = [new() { Matches = [new() { Headers = [new() { Name = "x-canary", Value = "1" }] }], BackendRefs = [new() { Name = "catalog-v2" }] }],
            },
        ],
        Policies = new()
        {
            Backends =
            [
                new() { Name = "catalog-lb", TargetRef = new() { Name = "catalog" }, LoadBalancer = new() { Type = "LeastRequest" } },
                new() { Name = "inventory-health", TargetRef = new() { Name = "inventory" }, HealthCheck = new() { Path = "/ready" } },
            ],
            Authorization = [new() { Name = "inventory-callers", TargetRef = new() { Name = "inventory" }, Rules = [new() { FromServices = ["catalog"] }] }],
            Egress = [new() { Name = "payments", Hosts = ["pay.example.com"], FromServices = ["catalog"] }],
        },
    };

    private static MeshState State(params RegisteredInstance[] instances) => new(7, Config, instances, configVersion: 4);

    private static RegisteredInstance Instance(string id, string service, bool healthy = true) =>
        new(id, service, $"http://127.0.0.1:{5000 + id.Length}", healthy, Now, Now, Now.AddSeconds(4));

    [Fact]
    public void ForSidecar_OnlyReferencedServices_WithTheirServiceRoutesBeforeTheDefault()
    {
        var snapshot = SnapshotGenerator.ForSidecar(State(Instance("catalog-1", "catalog"), Instance("catalog-2", "catalog", healthy: false)), "frontend");

        Assert.Equal((7L, 4L), (snapshot.Version, snapshot.ConfigVersion));
        Assert.Equal(["catalog", "catalog-v2"], snapshot.Clusters.Select(c => c.Name));
        Assert.Equal(["canary/rules/0/matches/0", "service/catalog"], snapshot.Routes.Select(r => r.Name));
        Assert.All(snapshot.Routes, r => Assert.Equal(["catalog"], r.Hosts!));
        Assert.Equal("x-canary", snapshot.Routes[0].Headers.Single().Name);
        Assert.Equal(["catalog-1"], snapshot.Clusters[0].Endpoints.Select(e => e.InstanceId));
        Assert.Equal("LeastRequest", snapshot.Clusters[0].Policy!.LoadBalancer!.Type);
        Assert.Empty(snapshot.Inbound.Authorization);
        Assert.Empty(snapshot.Egress);
    }

    [Fact]
    public void ForSidecar_ServiceAuthenticationAndRequestPrincipals_OnlyItsServicesSidecar_WhichMustImplementThem()
    {
        var config = Config with
        {
            Policies = Config.Policies with
            {
                Authentication = [new() { Name = "catalog-users", TargetRef = new() { Kind = "Service", Name = "catalog" }, Type = "Jwt", Jwt = new() { JwksUri = "https://id.example/jwks" } }],
                Authorization = [.. Config.Policies.Authorization, new() { Name = "catalog-admins", TargetRef = new() { Name = "catalog" }, Rules = [new() { RequestPrincipals = ["https://id.example/alice"] }] }],
            },
        };
        var state = new MeshState(7, config, [], configVersion: 4);

        var catalog = SnapshotGenerator.ForSidecar(state, "catalog");
        var frontend = SnapshotGenerator.ForSidecar(state, "frontend");

        Assert.Equal("catalog-users", catalog.Inbound.Authentication?.Name);
        // A proxy that cannot check it refuses the snapshot rather than serve catalog without it; others are not asked.
        Assert.Equal([Contracts.Snapshots.SnapshotFeatures.ServiceAuthentication, Contracts.Snapshots.SnapshotFeatures.RequestPrincipals], catalog.Requires);
        Assert.Null(frontend.Inbound.Authentication);
        Assert.Null(frontend.Requires);
    }

    [Fact]
    public void ForSidecar_OwnHealthCheckPath_OnlyWhenItsServiceHasHealthChecks()
    {
        Assert.Equal("/ready", SnapshotGenerator.ForSidecar(State(), "inventory").Inbound.HealthCheckPath);
        Assert.Null(SnapshotGenerator.ForSidecar(State(), "catalog").Inbound.HealthCheckPath); // a backend policy without health checks
        Assert.Null(SnapshotGenerator.ForSidecar(State(), "frontend").Inbound.HealthCheckPath);
    }

    [Fact]
    public void ForSidecar_OwnInboundPoliciesAndEgress_Included()
    {
        var inventory = SnapshotGenerator.ForSidecar(State(), "inventory");
        var catalog = SnapshotGenerator.ForSidecar(State(), "catalog");

        Assert.Empty(inventory.Routes);
        Assert.Equal("inventory-callers", Assert.Single(inventory.Inbound.Authorization).Name);
        Assert.Equal("payments", Assert.Single(catalog.Egress).Name);
        Assert.Equal(["inventory"], catalog.Clusters.Select(c => c.Name));
    }

    [Fact]
    public void ForSidecar_UndeclaredService_MayCallEveryService()
    {
        var snapshot = SnapshotGenerator.ForSidecar(State(Instance("payments-1", "payments")), "payments");

        Assert.Equal(["catalog", "catalog-v2", "frontend", "inventory", "payments"], snapshot.Clusters.Select(c => c.Name));
    }

    [Fact]
    public void ForGateway_OnlyItsRoutes_ByGatewayApiPrecedence()
    {
        var snapshot = SnapshotGenerator.ForGateway(State(Instance("frontend-1", "frontend")), "gateway");

        Assert.Equal(
            [("shop/rules/0/matches/0", "PathPrefix", "/"), ("exact/rules/0/matches/0", "Exact", "/"), ("api/rules/0/matches/0", "PathPrefix", "/api"), ("home/rules/0/matches/0", "PathPrefix", "/")],
            snapshot.Routes.Select(r => (r.Name, r.Path!.Type, r.Path.Value)));
        Assert.Equal([0, 1, 2, 3], snapshot.Routes.Select(r => r.Order));
        Assert.Equal(["shop.example.com"], snapshot.Routes[0].Hosts!);
        Assert.Equal(["catalog", "frontend", "inventory"], snapshot.Clusters.Select(c => c.Name));
    }

    [Fact]
    public void ForGateway_Authentication_RoutePolicyReplacesTheGatewayPolicyAndSidecarsGetNone()
    {
        var gatewayPolicy = new AuthenticationPolicy { Name = "edge-jwt", TargetRef = new() { Kind = "Gateway", Name = "gateway" }, Jwt = new() { JwksUri = "https://id.example/jwks" } };
        var routePolicy = new AuthenticationPolicy { Name = "api-keys", TargetRef = new() { Kind = "Route", Name = "api" }, Type = "ApiKey", ApiKey = new() { EnvironmentVariable = "KEYS" } };
        var otherGateway = new AuthenticationPolicy { Name = "internal-jwt", TargetRef = new() { Kind = "Gateway", Name = "internal" }, Jwt = new() { JwksUri = "https://id.example/jwks" } };
        var config = Config with { Policies = Config.Policies with { Authentication = [gatewayPolicy, routePolicy, otherGateway] } };
        var state = new MeshState(7, config, [], configVersion: 4);

        var snapshot = SnapshotGenerator.ForGateway(state, "gateway");

        Assert.Contains(snapshot.Routes, r => r.Name.StartsWith("api/", StringComparison.Ordinal));
        Assert.All(snapshot.Routes.Where(r => r.Name.StartsWith("api/", StringComparison.Ordinal)), r => Assert.Equal("api-keys", r.Authentication?.Name));
        Assert.All(snapshot.Routes.Where(r => !r.Name.StartsWith("api/", StringComparison.Ordinal)), r => Assert.Equal("edge-jwt", r.Authentication?.Name));
        Assert.All(SnapshotGenerator.ForGateway(state, "internal").Routes, r => Assert.Equal("internal-jwt", r.Authentication?.Name));
        Assert.All(SnapshotGenerator.ForSidecar(state, "frontend").Routes, r => Assert.Null(r.Authentication));
    }

    [Fact]
    public void GatewayIdentityHeaders_EveryProxyGetsTheMeshWideList_BuiltInAndEveryPolicysClaimHeaders()
    {
        var edge = new AuthenticationPolicy
        {
            Name = "edge-jwt", TargetRef = new() { Kind = "Gateway", Name = "gateway" },
            Jwt = new() { JwksUri = "https://id.example/jwks", ClaimsToHeaders = [new() { Claim = "email", Header = "X-User-Email" }, new() { Claim = "tenant", Header = "x-tenant" }] },
        };
        var other = new AuthenticationPolicy
        {
            Name = "internal-jwt", TargetRef = new() { Kind = "Gateway", Name = "internal" },
            Jwt = new() { JwksUri = "https://id.example/jwks", ClaimsToHeaders = [new() { Claim = "org", Header = "x-tenant" }, new() { Claim = "roles", Header = "x-roles" }] },
        };
        var state = new MeshState(7, Config with { Policies = Config.Policies with { Authentication = [edge, other] } }, [], configVersion: 4);
        string[] expected = ["x-mesh-api-key", "x-mesh-jwt-sub", "x-roles", "x-tenant", "x-user-email"];

        // A sidecar removes them from callers other than gateways; a gateway from its clients on every route, also on
        // those of a gateway whose policy names none of them.
        Assert.Equal(expected, SnapshotGenerator.ForSidecar(state, "inventory").Inbound.GatewayIdentityHeaders);
        Assert.Equal(expected, SnapshotGenerator.ForSidecar(state, "undeclared").Inbound.GatewayIdentityHeaders);
        Assert.Equal(expected, SnapshotGenerator.ForGateway(state, "gateway").Inbound.GatewayIdentityHeaders);
        Assert.Equal(expected, SnapshotGenerator.ForGateway(state, "nobody").Inbound.GatewayIdentityHeaders);
        Assert.Equal(["x-mesh-api-key", "x-mesh-jwt-sub"], SnapshotGenerator.ForSidecar(State(), "inventory").Inbound.GatewayIdentityHeaders);
    }

    [Fact]
    public void ForGateway_UnknownGateway_HasNoRoutes()
    {
        var snapshot = SnapshotGenerator.ForGateway(State(), "nobody");

        Assert.Empty(snapshot.Routes);
        Assert.Empty(snapshot.Clusters);
    }
}
