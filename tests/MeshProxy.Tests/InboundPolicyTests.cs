using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>A service's rate limits, enforced by its own sidecars on the inbound side.</summary>
public sealed class InboundPolicyTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static MeshConfig Config(string per) => new()
    {
        Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "admin", References = ["catalog"] }, new() { Name = "catalog" }],
        Policies = new() { RateLimits = [new() { Name = "catalog-limit", TargetRef = new() { Name = "catalog" }, Requests = 2, Period = "1m", Per = per }] },
    };

    private static async Task<HttpStatusCode> CallCatalogAsync(HttpClient client)
    {
        using var response = await client.GetAsync("http://catalog/items", Cancel);
        return response.StatusCode;
    }

    [Fact]
    public async Task ServiceRateLimit_BucketEmpty_429FromTheCalleesSidecarWithRetryAfter()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(InboundPolicyTests).Assembly, Config("Target"));
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await Eventually.UntilAsync(async () => await catalog.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "catalog's sidecar to be ready");
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () => await CallCatalogAsync(client) == HttpStatusCode.OK, Deadline, "frontend to reach catalog");

        // The call that proved the route used the first of the bucket's two tokens.
        using var second = await client.GetAsync("http://catalog/items", Cancel);
        using var third = await client.GetAsync("http://catalog/items", Cancel);

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal(MeshErrors.RateLimited, third.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.InRange(third.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        Assert.Equal(2, catalogApp.Requests.Count(r => r.StartsWith("GET /items", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task ServiceRateLimitPerSource_EachCallingServiceHasItsOwnBucket()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var adminApp = await TestBackend.StartAsync("admin-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(InboundPolicyTests).Assembly, Config("Source"));
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var admin = await SidecarProcess.StartAsync(controlPlane, "admin", "admin-1", adminApp.Url);
        await Eventually.UntilAsync(async () => await catalog.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "catalog's sidecar to be ready");
        using var fromFrontend = frontend.OutboundClient();
        using var fromAdmin = admin.OutboundClient();
        await Eventually.UntilAsync(async () => await CallCatalogAsync(fromFrontend) == HttpStatusCode.OK, Deadline, "frontend to reach catalog");

        // frontend spends its bucket (one token went on the call above)...
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests], [await CallCatalogAsync(fromFrontend), await CallCatalogAsync(fromFrontend)]);

        // ...while admin still has its own: with one shared bucket it would get 429 until the deadline.
        await Eventually.UntilAsync(async () => await CallCatalogAsync(fromAdmin) == HttpStatusCode.OK, Deadline, "admin to reach catalog with its own bucket");
        Assert.Equal(HttpStatusCode.TooManyRequests, await CallCatalogAsync(fromFrontend));
    }

    [Fact]
    public async Task HealthProbes_OfTheBackendPolicysPath_SpendNoTokens()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        var config = Config("Target");
        config.Policies.Backends = [HealthProbes.Every1s("catalog")];
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(InboundPolicyTests).Assembly, config);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);

        // frontend's sidecar probes catalog every second: more probes than the bucket's two tokens a minute.
        await Eventually.UntilAsync(() => catalogApp.Requests.Count(r => r == "GET /ready") >= 3, Deadline, "three health probes to pass a limit of two requests a minute");

        // The bucket is still full: two calls pass, the third is limited.
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () => await CallCatalogAsync(client) == HttpStatusCode.OK, Deadline, "frontend to reach catalog");
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests], [await CallCatalogAsync(client), await CallCatalogAsync(client)]);
    }
}
