using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Configuration;

namespace AspireMesh.ProxyEngine.Tests.Configuration;

public sealed class SnapshotCompilerTests
{
    [Theory]
    [InlineData("Exact", "/", "/")]
    [InlineData("Exact", "/health", "/health")]
    [InlineData("PathPrefix", "/", "/{**mesh-rest}")]
    [InlineData("PathPrefix", "/api", "/api/{**mesh-rest}")]
    [InlineData("PathPrefix", "/api/", "/api/{**mesh-rest}")]
    [InlineData("Exact", "/a{b}", "/a{{b}}")]
    public void ToTemplate_PathMatch_BecomesRouteTemplate(string type, string value, string expected) =>
        Assert.Equal(expected, SnapshotCompiler.ToTemplate(new PathMatchSnapshot(type, value)));

    [Fact]
    public void ToTemplate_NoPath_MatchesEverything() =>
        Assert.Equal("/{**mesh-rest}", SnapshotCompiler.ToTemplate(null));

    [Fact]
    public void Compile_Snapshot_KeepsOrderHostsAndEndpoints()
    {
        var snapshot = new ProxySnapshot(3,
            [new RouteSnapshot("r1", ["catalog"], new PathMatchSnapshot("PathPrefix", "/api"), "catalog", 4)],
            [new ClusterSnapshot("catalog", [new EndpointSnapshot("catalog-1", "http://127.0.0.1:5001")])]);

        var (routes, clusters) = SnapshotCompiler.Compile(snapshot, new ProxyEngineOptions { Kind = "gateway", Name = "g", ProxyId = "g", ControlPlane = new Uri("http://127.0.0.1:1/") });

        var route = Assert.Single(routes);
        Assert.Equal(("r1", "catalog", 4, "/api/{**mesh-rest}"), (route.RouteId, route.ClusterId, route.Order, route.Match.Path));
        Assert.Equal(["catalog"], route.Match.Hosts!);
        var cluster = Assert.Single(clusters);
        Assert.Equal("http://127.0.0.1:5001", cluster.Destinations!["catalog-1"].Address);
        Assert.Equal("MeshPeakEwma", cluster.LoadBalancingPolicy);
        Assert.Null(cluster.SessionAffinity);
    }
}
