using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.Snapshots;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Tests.Snapshots;

public sealed class SnapshotGeneratorTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly MeshConfig Config = new()
    {
        Services = [new() { Name = "frontend" }, new() { Name = "catalog" }, new() { Name = "inventory" }],
        Routes =
        [
            new() { Name = "home", ParentRefs = [new() { Name = "gateway" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/" } }], BackendRefs = [new() { Name = "frontend" }] }] },
            new() { Name = "api", ParentRefs = [new() { Name = "gateway" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/api" } }], BackendRefs = [new() { Name = "catalog" }] }] },
            new() { Name = "exact", ParentRefs = [new() { Name = "gateway" }], Rules = [new() { Matches = [new() { Path = new() { Type = "Exact", Value = "/" } }], BackendRefs = [new() { Name = "inventory" }] }] },
            new() { Name = "other", ParentRefs = [new() { Name = "internal" }], Rules = [new() { BackendRefs = [new() { Name = "inventory" }] }] },
        ],
    };

    private static MeshState State(params RegisteredInstance[] instances) => new(7, Config, instances);

    private static RegisteredInstance Instance(string id, string service, bool healthy = true) =>
        new(id, service, $"http://127.0.0.1:{5000 + id.Length}", healthy, Now, Now, Now.AddSeconds(4));

    [Fact]
    public void ForSidecar_RoutesEveryServiceByHostToItsHealthyEndpoints()
    {
        var snapshot = SnapshotGenerator.ForSidecar(State(Instance("catalog-1", "catalog"), Instance("catalog-2", "catalog", healthy: false)));

        Assert.Equal(7, snapshot.Version);
        Assert.Equal(["catalog", "frontend", "inventory"], snapshot.Clusters.Select(c => c.Name));
        var catalogRoute = Assert.Single(snapshot.Routes, r => r.Cluster == "catalog");
        Assert.Equal(["catalog"], catalogRoute.Hosts);
        Assert.Null(catalogRoute.Path);
        Assert.Equal(["catalog-1"], snapshot.Clusters.Single(c => c.Name == "catalog").Endpoints.Select(e => e.InstanceId));
        Assert.Empty(snapshot.Clusters.Single(c => c.Name == "frontend").Endpoints);
    }

    [Fact]
    public void ForSidecar_RegisteredButUndeclaredService_IsIncluded()
    {
        var snapshot = SnapshotGenerator.ForSidecar(State(Instance("payments-1", "payments")));

        Assert.Contains(snapshot.Clusters, c => c.Name == "payments" && c.Endpoints.Count == 1);
    }

    [Fact]
    public void ForGateway_OnlyItsRoutes_ExactFirstThenLongestPrefix()
    {
        var snapshot = SnapshotGenerator.ForGateway(State(Instance("frontend-1", "frontend")), "gateway");

        Assert.Equal(
            [("Exact", "/", "inventory"), ("PathPrefix", "/api", "catalog"), ("PathPrefix", "/", "frontend")],
            snapshot.Routes.Select(r => (r.Path!.Type, r.Path.Value, r.Cluster)));
        Assert.Equal([0, 1, 2], snapshot.Routes.Select(r => r.Order));
        Assert.Equal(["catalog", "frontend", "inventory"], snapshot.Clusters.Select(c => c.Name));
    }

    [Fact]
    public void ForGateway_UnknownGateway_HasNoRoutes()
    {
        var snapshot = SnapshotGenerator.ForGateway(State(), "nobody");

        Assert.Empty(snapshot.Routes);
        Assert.Empty(snapshot.Clusters);
    }
}
