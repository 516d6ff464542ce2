using System.Net;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ProxyEngine.Tests.Configuration;

public sealed class SnapshotApplierTests
{
    [Fact]
    public async Task ApplyAsync_BeforeAnySnapshot_ProxyIsNotReady()
    {
        await using var engine = await EngineHost.StartAsync();

        Assert.False(engine.Status.IsReady);
        Assert.Equal(0, engine.Status.AppliedVersion);
    }

    [Fact]
    public async Task ApplyAsync_ValidSnapshot_ServesItAndBecomesReady()
    {
        await using var backend = await TestBackend.StartAsync("a");
        await using var engine = await EngineHost.StartAsync();

        Assert.Empty(await engine.ApplyAsync(EngineHost.HostSnapshot(5, "catalog", backend.Url)));

        Assert.True(engine.Status.IsReady);
        Assert.Equal(5, engine.Status.AppliedVersion);
        using var response = await engine.GetAsync("catalog", "/items");
        Assert.Equal("a GET /items", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ApplyAsync_RouteToMissingCluster_RefusedWholeAndPreviousKeepsServing()
    {
        await using var backend = await TestBackend.StartAsync("a");
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(5, "catalog", backend.Url));
        var broken = new ProxySnapshot(6,
            [new RouteSnapshot("good", ["inventory"], null, "inventory"), new RouteSnapshot("bad", ["payments"], null, "payments")],
            [new ClusterSnapshot("inventory", [])]);

        var errors = await engine.ApplyAsync(broken);

        Assert.Equal(["route 'bad': cluster 'payments' is not in the snapshot"], errors);
        Assert.Equal(5, engine.Status.AppliedVersion);
        using var response = await engine.GetAsync("catalog");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var inventory = await engine.GetAsync("inventory");
        Assert.Equal(HttpStatusCode.NotFound, inventory.StatusCode);
    }

    [Fact]
    public async Task ApplyAsync_NewEndpoints_LaterRequestsUseThem()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", a.Url));

        await engine.ApplyAsync(EngineHost.HostSnapshot(2, "catalog", b.Url));

        using var response = await engine.GetAsync("catalog");
        Assert.Equal("b", response.Headers.GetValues("x-backend").Single());
    }
}
