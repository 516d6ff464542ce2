using System.Net.Http.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// A control plane and a sidecar one version apart, as during a rolling upgrade or a rollback: each gets members the
/// other's build does not know (a relay between them adds one to every JSON object, both ways), and the mesh works on.
/// </summary>
public sealed class VersionSkewTests
{
    private const string AddedMember = "addedInAFutureVersion";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task UnknownMembersBothWays_SidecarIsCertifiedRegisteredAndRoutes_IgnoredFieldsLoggedAndReported()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(VersionSkewTests).Assembly, new MeshConfig
        {
            Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog" }],
        });
        await using var relay = await ControlPlaneRelay.StartAsync(controlPlane.Url, holdWatches: false);
        relay.Rewrite = ControlPlaneRelay.AddToEveryObject(AddedMember);
        await using var frontend = await SidecarProcess.StartAsync(relay.Url, "frontend", "frontend-1", frontendApp.Url, null);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);

        // The frontend's sidecar routes by the snapshot it read from the "newer" control plane, over mTLS with the
        // certificate it was issued through the relay.
        Assert.Equal("catalog-app GET /items", await frontend.GetUntilOkAsync(new Uri("http://catalog/items"), Deadline, Cancel));
        // The control plane took the "newer" sidecar's registration and keeps taking its heartbeats.
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("frontend-1"));
        await Eventually.UntilAsync(() => Task.FromResult(relay.Rewritten.Contains("request POST /v1/instances/frontend-1/heartbeat")), Deadline,
            "a heartbeat to pass the relay");
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("frontend-1"));
        foreach (var message in new[] { "request PUT /v1/instances/frontend-1", "request POST /v1/certificates", "response POST /v1/certificates",
            "request POST /v1/proxies/frontend-1/report", "response PUT /v1/instances/frontend-1" })
        {
            Assert.Contains(message, relay.Rewritten);
        }

        Assert.Contains(relay.Rewritten, m => m.StartsWith("response GET /v1/watch/sidecar/frontend", StringComparison.Ordinal));

        // The sidecar says which fields it ignored, in its log and to the control plane, which lists both builds.
        await frontend.Process.WaitForLineAsync($@"fields this proxy \(.+\) does not know; applied without them: .*{AddedMember}", Deadline);
        var proxies = await controlPlane.Http.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel);
        Assert.Equal(MeshBuild.Version, proxies!.ControlPlaneVersion);
        var frontendProxy = proxies.Proxies.Single(p => p.Name == "frontend");
        Assert.Equal(MeshBuild.Version, frontendProxy.ProxyVersion);
        Assert.Contains(AddedMember, frontendProxy.IgnoredFields);
        Assert.Contains($"clusters[].{AddedMember}", frontendProxy.IgnoredFields);
        Assert.Contains($"routes[].backends[].{AddedMember}", frontendProxy.IgnoredFields);
        Assert.Equal(frontendProxy.IgnoredFields.Count, frontendProxy.IgnoredFields.Distinct().Count());
        Assert.All(frontendProxy.IgnoredFields, f => Assert.EndsWith(AddedMember, f, StringComparison.Ordinal));
        Assert.Empty(proxies.Proxies.Single(p => p.Name == "catalog").IgnoredFields);
    }

    [Fact]
    public async Task SnapshotRequiringAFeatureThisBuildLacks_Refused_ThePreviousKeepsServing_TheRefusalReported()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(VersionSkewTests).Assembly, new MeshConfig
        {
            Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog" }],
        });
        await using var relay = await ControlPlaneRelay.StartAsync(controlPlane.Url, holdWatches: false);
        await using var frontend = await SidecarProcess.StartAsync(relay.Url, "frontend", "frontend-1", frontendApp.Url, null);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        Assert.Equal("catalog-app GET /items", await frontend.GetUntilOkAsync(new Uri("http://catalog/items"), Deadline, Cancel));

        // A newer control plane's snapshot that uses a feature this build does not implement, and says so.
        relay.Rewrite = (what, root) =>
        {
            if (what.StartsWith("response GET /v1/watch/", StringComparison.Ordinal))
            {
                root["requires"] = new System.Text.Json.Nodes.JsonArray("a-feature-from-the-future");
            }
        };
        await controlPlane.Client.RegisterAsync("catalog-2", new InstanceRegistration("catalog", "http://127.0.0.1:9", true), Cancel);

        Contracts.Admin.ProxyInfo? info = null;
        await Eventually.UntilAsync(async () =>
        {
            info = (await controlPlane.Http.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel))!.Proxies.Single(p => p.Name == "frontend");
            return info.RefusedVersion is not null;
        }, Deadline, "the frontend's sidecar to report the refusal");
        Assert.True(info!.AppliedVersion < info.RefusedVersion, $"applied {info.AppliedVersion}, refused {info.RefusedVersion}");
        Assert.Contains("the feature 'a-feature-from-the-future' the control plane requires", info.LastRefusal, StringComparison.Ordinal);
        Assert.Contains("upgrade it", info.LastRefusal, StringComparison.Ordinal);
        // The previous snapshot keeps serving: catalog-1 only (catalog-2, on a closed port, came with the refused one).
        using var client = frontend.OutboundClient();
        for (var i = 0; i < 4; i++)
        {
            using var response = await client.GetAsync(new Uri("http://catalog/items"), Cancel);
            Assert.Equal("catalog-app GET /items", await response.Content.ReadAsStringAsync(Cancel));
        }
    }
}
