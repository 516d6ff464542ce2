using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Retries;

/// <summary>Route timeouts, retry policies and retry budgets, against real Kestrel backends.</summary>
public sealed class ResiliencePolicyTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static ProxySnapshot Snapshot(RouteSnapshot route, Uri[] endpoints, RetryBudgetConfig? budget = null) =>
        new(1, [route], [new ClusterSnapshot("catalog", [.. endpoints.Select((e, i) => new EndpointSnapshot($"catalog-{i + 1}", e.ToString().TrimEnd('/')))])
        {
            // Round robin, so the failing endpoint is certain to be tried.
            Policy = new BackendPolicy { Name = "catalog-policy", TargetRef = new() { Name = "catalog" }, RetryBudget = budget, LoadBalancer = new() { Type = "RoundRobin" } },
        }]);

    private static RouteSnapshot Route(HttpRouteRetry? retry = null, HttpRouteTimeouts? timeouts = null) =>
        new("r", ["catalog"], null, "catalog") { Backends = [new BackendReference { Name = "catalog" }], Retry = retry, Timeouts = timeouts };

    private static Task Answer503(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        return context.Response.WriteAsync("app says 503");
    }

    [Fact]
    public async Task RetryOnStatus_FirstEndpointAnswers503_RetriedOnTheOther()
    {
        await using var failing = await TestBackend.StartAsync("failing");
        failing.Handler = Answer503;
        await using var healthy = await TestBackend.StartAsync("healthy");
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(Route(new HttpRouteRetry { Attempts = 2, Codes = [503], Backoff = "1ms" }), [failing.Url, healthy.Url]));

        for (var i = 0; i < 6; i++)
        {
            using var response = await engine.GetAsync("catalog");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("healthy GET /", await response.Content.ReadAsStringAsync(Cancel));
        }

        Assert.NotEmpty(failing.Requests);
    }

    [Fact]
    public async Task RetryOnStatus_NotConfigured_AppsAnswerPassesThrough()
    {
        await using var failing = await TestBackend.StartAsync("failing");
        failing.Handler = Answer503;
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(Route(), [failing.Url]));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("app says 503", await response.Content.ReadAsStringAsync(Cancel));
        Assert.False(response.Headers.Contains(MeshHeaders.Error));
    }

    [Fact]
    public async Task PerTryTimeout_WithTimeoutCondition_RetriedOnAnotherEndpoint()
    {
        await using var silent = await TestBackend.StartAsync("silent");
        silent.Handler = TestBackend.HangUntilAborted;
        await using var fast = await TestBackend.StartAsync("fast");
        await using var engine = await EngineHost.StartAsync();
        // Long enough for "fast" to answer on a loaded machine (a new connection included), short enough to wait out.
        await engine.ApplyAsync(Snapshot(Route(new HttpRouteRetry { Attempts = 2, Conditions = ["timeout"], Backoff = "1ms" }, new HttpRouteTimeouts { BackendRequest = "1s" }),
            [silent.Url, fast.Url]));

        for (var i = 0; i < 4; i++)
        {
            using var response = await engine.GetAsync("catalog");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.NotEmpty(silent.Requests);
    }

    [Fact]
    public async Task PerTryTimeout_NotRetried_504NamingTheLimit()
    {
        await using var silent = await TestBackend.StartAsync("silent");
        silent.Handler = TestBackend.HangUntilAborted;
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(Route(timeouts: new HttpRouteTimeouts { BackendRequest = "200ms" }), [silent.Url]));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal(MeshErrors.Timeout, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal("timeout: the upstream did not answer within 200ms.\n", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task RequestTimeout_WholeRequestTooSlow_504()
    {
        await using var silent = await TestBackend.StartAsync("silent");
        silent.Handler = TestBackend.HangUntilAborted;
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(Route(timeouts: new HttpRouteTimeouts { Request = "300ms" }), [silent.Url]));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("timeout: the request did not complete within 300ms.\n", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task RetryBudget_TotalOutage_RetriesCappedToTheBudgetShare()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        a.Handler = Answer503;
        b.Handler = Answer503;
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(Route(new HttpRouteRetry { Attempts = 3, Codes = [503], Backoff = "1ms" }), [a.Url, b.Url],
            new RetryBudgetConfig { Percent = 20, MinRetriesPerSecond = 0 }));

        for (var i = 0; i < 100; i++)
        {
            using var response = await engine.GetAsync("catalog");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        // Without a budget every request would be tried 3 times (300); the budget allows 20% more than the 100 requests.
        Assert.InRange(a.Requests.Count + b.Requests.Count, 100, 121);
    }

    [Fact]
    public async Task RetryBudget_Spent_ConnectFailureAnsweredWithBudgetError()
    {
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(Route(), [Ports.ClosedUrl(), Ports.ClosedUrl()], new RetryBudgetConfig { Percent = 0, MinRetriesPerSecond = 0 }));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(MeshErrors.RetryBudgetExhausted, response.Headers.GetValues(MeshHeaders.Error).Single());
    }

    [Fact]
    public async Task Post_AllowNonIdempotent_RetriedWithTheSameBody()
    {
        await using var failing = await TestBackend.StartAsync("failing");
        failing.Handler = Answer503;
        await using var echo = await TestBackend.StartAsync("echo");
        echo.Handler = async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            await context.Response.WriteAsync($"echo {await reader.ReadToEndAsync()}");
        };
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(Route(new HttpRouteRetry { Attempts = 2, Codes = [503], Backoff = "1ms", AllowNonIdempotent = true }), [failing.Url, echo.Url]));

        for (var i = 0; i < 4; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent($"order {i}") };
            request.Headers.Host = "catalog";
            using var response = await engine.Client.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal($"echo order {i}", await response.Content.ReadAsStringAsync(Cancel));
        }

        Assert.NotEmpty(failing.Requests);
    }

    [Fact]
    public async Task Post_NonIdempotentNotAllowed_NotRetried()
    {
        await using var failing = await TestBackend.StartAsync("failing");
        failing.Handler = Answer503;
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(Route(new HttpRouteRetry { Attempts = 3, Codes = [503], Backoff = "1ms" }), [failing.Url]));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent("order") };
        request.Headers.Host = "catalog";
        using var response = await engine.Client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("app says 503", await response.Content.ReadAsStringAsync(Cancel));
        Assert.Single(failing.Requests);
    }
}

public sealed class CircuitBreakerTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ConnectionLimits_Overflow_RefusedAtOnceWithCircuitOpenThenRecovers()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = 0;
        await using var slow = await TestBackend.StartAsync("slow");
        slow.Handler = async context =>
        {
            Interlocked.Increment(ref held);
            await release.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("done", context.RequestAborted);
        };
        // Which of the test's requests have reached the proxy's pipeline (a step before its circuit breaker).
        var arrived = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>();
        await using var engine = await EngineHost.StartAsync(beforeRoutes: app => app.Use((context, next) =>
        {
            arrived[context.Request.Path.Value ?? ""] = true;
            return next(context);
        }));
        var snapshot = new ProxySnapshot(1, [new RouteSnapshot("r", ["catalog"], null, "catalog") { Backends = [new BackendReference { Name = "catalog" }] }],
            [new ClusterSnapshot("catalog", [new EndpointSnapshot("catalog-1", slow.Url.ToString().TrimEnd('/'))])
            {
                Policy = new BackendPolicy { Name = "limits", TargetRef = new() { Name = "catalog" }, ConnectionLimits = new() { MaxConnections = 1, MaxPendingRequests = 1 } },
            }]);
        Assert.Empty(await engine.ApplyAsync(snapshot));

        var first = engine.GetAsync("catalog", "/1");
        var second = engine.GetAsync("catalog", "/2");
        await Eventually.UntilAsync(() => Volatile.Read(ref held) >= 1, TimeSpan.FromSeconds(10), "a request to be held by the backend");
        // Both must have taken their places before a third is sent, or the third could take the pending one.
        await Eventually.UntilAsync(() => arrived.ContainsKey("/1") && arrived.ContainsKey("/2"), TimeSpan.FromSeconds(10), "both requests to reach the proxy");
        // A probe admitted before the second request arrives would be held too: its own short timeout bounds the wait.
        using var probe = new HttpClient { BaseAddress = engine.Url, Timeout = TimeSpan.FromSeconds(2) };
        await Eventually.UntilAsync(async () =>
        {
            using var third = await engine.GetAsync("catalog", "/3", probe);
            return third.StatusCode == HttpStatusCode.ServiceUnavailable && third.Headers.GetValues(MeshHeaders.Error).Single() == MeshErrors.CircuitOpen;
        }, TimeSpan.FromSeconds(10), "a third request to overflow");

        release.SetResult();
        using (var done1 = await first.WaitAsync(TimeSpan.FromSeconds(10), Cancel))
        using (var done2 = await second.WaitAsync(TimeSpan.FromSeconds(10), Cancel))
        {
            Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (done1.StatusCode, done2.StatusCode));
        }

        using var after = await engine.GetAsync("catalog", "/4");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }
}
