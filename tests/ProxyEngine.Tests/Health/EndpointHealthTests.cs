using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Health;

/// <summary>Outlier detection and active health checks take failing endpoints out of rotation and bring them back.</summary>
public sealed class EndpointHealthTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static ProxySnapshot Snapshot(BackendPolicy policy, params Uri[] endpoints) =>
        new(1, [new RouteSnapshot("r", ["catalog"], null, "catalog") { Backends = [new BackendReference { Name = "catalog" }] }],
            [new ClusterSnapshot("catalog", [.. endpoints.Select((e, i) => new EndpointSnapshot($"catalog-{i + 1}", e.ToString().TrimEnd('/')))]) { Policy = policy }]);

    private static async Task<string> ServedByAsync(EngineHost engine)
    {
        using var response = await engine.GetAsync("catalog", "/items");
        return response.IsSuccessStatusCode ? response.Headers.GetValues("x-backend").Single() : $"{(int)response.StatusCode}";
    }

    private static async Task<bool> OnlyAsync(EngineHost engine, string backend)
    {
        for (var i = 0; i < 6; i++)
        {
            if (await ServedByAsync(engine) != backend)
            {
                return false;
            }
        }

        return true;
    }

    [Fact]
    public async Task OutlierDetection_EndpointFailsInARow_EjectedThenBackAfterItsEjectionTime()
    {
        var failing = true;
        await using var flaky = await TestBackend.StartAsync("flaky");
        flaky.Handler = context =>
        {
            context.Response.StatusCode = failing ? StatusCodes.Status500InternalServerError : StatusCodes.Status200OK;
            context.Response.Headers["x-backend"] = "flaky";
            return context.Response.WriteAsync("flaky");
        };
        await using var steady = await TestBackend.StartAsync("steady");
        await using var engine = await EngineHost.StartAsync();
        var policy = new BackendPolicy
        {
            Name = "catalog-policy", TargetRef = new() { Name = "catalog" },
            LoadBalancer = new() { Type = "RoundRobin" },
            OutlierDetection = new() { ConsecutiveFailures = 3, BaseEjectionTime = "5s", MaxEjectionPercent = 50 },
        };
        Assert.Empty(await engine.ApplyAsync(Snapshot(policy, flaky.Url, steady.Url)));

        await Eventually.UntilAsync(() => OnlyAsync(engine, "steady"), Deadline, "the failing endpoint to be ejected");
        var hitsWhileEjected = flaky.Requests.Count;
        Assert.True(await OnlyAsync(engine, "steady"));
        Assert.Equal(hitsWhileEjected, flaky.Requests.Count);

        failing = false;
        await Eventually.UntilAsync(async () => await ServedByAsync(engine) == "flaky", Deadline, "the ejected endpoint to return");
    }

    [Fact]
    public async Task OutlierDetection_MaxEjectionPercent_NeverEjectsTheWholeCluster()
    {
        await using var broken = await TestBackend.StartAsync("broken");
        broken.Handler = context =>
        {
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return Task.CompletedTask;
        };
        await using var engine = await EngineHost.StartAsync();
        var policy = new BackendPolicy
        {
            Name = "catalog-policy", TargetRef = new() { Name = "catalog" },
            OutlierDetection = new() { ConsecutiveFailures = 1, BaseEjectionTime = "1m", MaxEjectionPercent = 50 },
        };
        await engine.ApplyAsync(Snapshot(policy, broken.Url));

        for (var i = 0; i < 5; i++)
        {
            // The only endpoint keeps being tried (its own 500s), rather than the cluster going empty (503 no-healthy-endpoint).
            Assert.Equal("500", await ServedByAsync(engine));
        }
    }

    [Fact]
    public async Task ActiveHealthCheck_EndpointUnhealthy_TrafficAvoidsItUntilHealthyAgain()
    {
        var healthy = false;
        await using var sick = await TestBackend.StartAsync("sick");
        sick.Handler = context =>
        {
            if (context.Request.Path == "/health")
            {
                context.Response.StatusCode = healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                return Task.CompletedTask;
            }

            context.Response.Headers["x-backend"] = "sick";
            return context.Response.WriteAsync("sick");
        };
        await using var well = await TestBackend.StartAsync("well");
        await using var engine = await EngineHost.StartAsync();
        var policy = new BackendPolicy
        {
            Name = "catalog-policy", TargetRef = new() { Name = "catalog" },
            LoadBalancer = new() { Type = "RoundRobin" },
            HealthCheck = new() { Path = "/health", Interval = "1s", Timeout = "1s", UnhealthyThreshold = 1 },
        };
        Assert.Empty(await engine.ApplyAsync(Snapshot(policy, sick.Url, well.Url)));

        await Eventually.UntilAsync(() => OnlyAsync(engine, "well"), Deadline, "the unhealthy endpoint to leave rotation");
        Assert.Contains("GET /health", sick.Requests);

        healthy = true;
        await Eventually.UntilAsync(async () => await ServedByAsync(engine) == "sick", Deadline, "the endpoint to return once healthy");
    }
}
