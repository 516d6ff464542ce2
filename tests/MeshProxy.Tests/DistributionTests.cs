using System.Net;
using System.Net.Http.Json;
using System.Text;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;
using AspireMesh.ProxyEngine;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>Config distribution to real sidecars: acknowledgements, refusals, live changes, and a control plane that goes away.</summary>
public sealed class DistributionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static readonly MeshConfig Storefront = new()
    {
        Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog" }, new() { Name = "catalog-v2" }],
    };

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task PutYamlAsync(ControlPlaneProcess controlPlane, string yaml)
    {
        using var response = await controlPlane.Admin.PutAsync("v1/config", new StringContent(yaml, Encoding.UTF8, "application/yaml"), Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<ProxyInfo?> ProxyAsync(ControlPlaneProcess controlPlane, string id) =>
        (await controlPlane.Http.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel))!.Proxies.FirstOrDefault(p => p.Id == id);

    private static async Task<string?> CatalogServedByAsync(HttpClient client, string? canary = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://catalog/items");
        if (canary is not null)
        {
            request.Headers.Add("x-canary", canary);
        }

        using var response = await client.SendAsync(request, Cancel);
        return response.IsSuccessStatusCode ? response.Headers.GetValues(MeshHeaders.Instance).Single() : $"{(int)response.StatusCode}";
    }

    [Fact]
    public async Task Snapshot_Applied_ProxyReportsItAndIsListedUpToDate()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DistributionTests).Assembly, Storefront);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);

        await Eventually.UntilAsync(async () => await ProxyAsync(controlPlane, "frontend-1") is { UpToDate: true, Watching: true }, Deadline, "frontend-1 to report the current version");

        var proxy = (await ProxyAsync(controlPlane, "frontend-1"))!;
        Assert.Equal(("sidecar", "frontend", (string?)null), (proxy.Kind, proxy.Name, proxy.LastRefusal));
    }

    [Fact]
    public async Task ServiceRoute_ChangedLive_HeaderMatchSendsCanaryTrafficToV2()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var canaryApp = await TestBackend.StartAsync("canary-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DistributionTests).Assembly, Storefront);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var canary = await SidecarProcess.StartAsync(controlPlane, "catalog-v2", "catalog-v2-1", canaryApp.Url);
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () => await CatalogServedByAsync(client) == "catalog-1", Deadline, "catalog-1 to serve");
        Assert.Equal("catalog-1", await CatalogServedByAsync(client, canary: "1"));

        await PutYamlAsync(controlPlane, """
            services:
              - name: frontend
                references: [catalog]
              - name: catalog
              - name: catalog-v2
            routes:
              - name: catalog-canary
                parentRefs: [{ kind: Service, name: catalog }]
                rules:
                  - matches: [{ headers: [{ name: x-canary, value: "1" }] }]
                    filters:
                      - type: ResponseHeaderModifier
                        responseHeaderModifier: { set: [{ name: x-route, value: canary }] }
                    backendRefs: [{ name: catalog-v2 }]
            """);

        await Eventually.UntilAsync(async () => await CatalogServedByAsync(client, canary: "1") == "catalog-v2-1", Deadline, "canary requests to reach catalog-v2");
        Assert.Equal("catalog-1", await CatalogServedByAsync(client));
        using var tagged = new HttpRequestMessage(HttpMethod.Get, "http://catalog/items");
        tagged.Headers.Add("x-canary", "1");
        using var response = await client.SendAsync(tagged, Cancel);
        Assert.Equal("canary", response.Headers.GetValues("x-route").Single());
    }

    [Fact]
    public async Task Snapshot_UsesUnimplementedPolicy_RefusedWithReasonAndPreviousKeepsServing()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DistributionTests).Assembly, Storefront);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () => await CatalogServedByAsync(client) == "catalog-1", Deadline, "catalog-1 to serve");

        await PutYamlAsync(controlPlane, """
            services:
              - name: frontend
                references: [catalog]
              - name: catalog
              - name: catalog-v2
            policies:
              backends:
                - name: catalog-backend
                  targetRef: { name: catalog }
                  loadBalancer: { type: RoundRobin }
                  slowStart: 30s
            """);

        await Eventually.UntilAsync(async () => await ProxyAsync(controlPlane, "frontend-1") is { LastRefusal: not null }, Deadline, "frontend-1 to report a refusal");
        var proxy = (await ProxyAsync(controlPlane, "frontend-1"))!;
        Assert.Contains("backend policy 'catalog-backend': slow start with the RoundRobin load balancer", proxy.LastRefusal, StringComparison.Ordinal);
        Assert.False(proxy.UpToDate);
        Assert.Equal("catalog-1", await CatalogServedByAsync(client));
        await frontend.Process.WaitForLineAsync("Refused snapshot version", Deadline);
    }

    [Fact]
    public async Task ControlPlane_KilledDuringTrafficThenRestarted_TrafficContinuesAndProxiesConverge()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        var state = Directory.CreateTempSubdirectory("aspiremesh-cp-").FullName;
        var port = Ports.FreeBelowEphemeral();
        var controlPlane = await ControlPlaneProcess.StartWithStateAsync(typeof(DistributionTests).Assembly, Storefront, state, port);
        try
        {
            await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
            await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
            using var client = frontend.OutboundClient();
            await Eventually.UntilAsync(async () => await CatalogServedByAsync(client) == "catalog-1", Deadline, "catalog-1 to serve");

            controlPlane.Process.Kill();
            await controlPlane.DisposeAsync();
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal("catalog-1", await CatalogServedByAsync(client));
            }

            controlPlane = await ControlPlaneProcess.StartWithStateAsync(typeof(DistributionTests).Assembly, null, state, port);
            await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Healthy, Deadline, "catalog-1 to register again");
            await Eventually.UntilAsync(async () => await ProxyAsync(controlPlane, "frontend-1") is { UpToDate: true }
                && await ProxyAsync(controlPlane, "catalog-1") is { UpToDate: true }, Deadline, "both sidecars to converge on the restarted control plane");
            Assert.Equal("catalog-1", await CatalogServedByAsync(client));
        }
        finally
        {
            await controlPlane.DisposeAsync();
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task Sidecar_RestartedWhileControlPlaneDown_ServesItsSavedSnapshot()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DistributionTests).Assembly, Storefront);
        var controlPlaneUrl = controlPlane.Url;
        var frontendState = Directory.CreateTempSubdirectory("aspiremesh-proxy-").FullName;
        try
        {
            await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
            await using (var frontend = await SidecarProcess.StartAsync(controlPlaneUrl, "frontend", "frontend-1", frontendApp.Url, frontendState))
            {
                using var client = frontend.OutboundClient();
                await Eventually.UntilAsync(async () => await CatalogServedByAsync(client) == "catalog-1", Deadline, "catalog-1 to serve");
            }

            await controlPlane.DisposeAsync();

            await using var restarted = await SidecarProcess.StartAsync(controlPlaneUrl, "frontend", "frontend-1", frontendApp.Url, frontendState);
            using var again = restarted.OutboundClient();
            await restarted.Process.WaitForLineAsync("Serving snapshot version \\d+ saved in", Deadline);
            Assert.Equal("catalog-1", await CatalogServedByAsync(again));
        }
        finally
        {
            await controlPlane.DisposeAsync();
            Directory.Delete(frontendState, recursive: true);
        }
    }
}
