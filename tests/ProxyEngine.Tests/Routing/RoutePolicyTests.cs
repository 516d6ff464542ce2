using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using Microsoft.Extensions.DependencyInjection;

namespace AspireMesh.ProxyEngine.Tests.Routing;

/// <summary>Route policies applied by the engine: traffic splits, redirects, fault injection, rate limits.</summary>
public sealed class RoutePolicyTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static ProxySnapshot Snapshot(long version, RouteSnapshot route, params (string Name, Uri[] Endpoints)[] clusters) =>
        new(version, [route], [.. clusters.Select(c => new ClusterSnapshot(c.Name, [.. c.Endpoints.Select((e, i) => new EndpointSnapshot($"{c.Name}-{i + 1}", e.ToString().TrimEnd('/')))]))]);

    private static RouteSnapshot Route(string cluster, PathMatchSnapshot? path = null) =>
        new("r", ["catalog"], path, cluster) { Backends = cluster.Length == 0 ? [] : [new BackendReference { Name = cluster }] };

    [Fact]
    public async Task WeightedBackends_90To10_SplitWithinFivePointsOver2000Requests()
    {
        await using var stable = await TestBackend.StartAsync("stable");
        await using var canary = await TestBackend.StartAsync("canary");
        await using var engine = await EngineHost.StartAsync();
        var route = Route("catalog") with { Backends = [new() { Name = "catalog", Weight = 90 }, new() { Name = "catalog-v2", Weight = 10 }] };
        Assert.Empty(await engine.ApplyAsync(Snapshot(1, route, ("catalog", [stable.Url]), ("catalog-v2", [canary.Url]))));

        for (var i = 0; i < 2000; i++)
        {
            using var response = await engine.GetAsync("catalog");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(2000, stable.Requests.Count + canary.Requests.Count);
        Assert.InRange(canary.Requests.Count, 100, 300);
    }

    [Fact]
    public async Task Redirect_ReplacePrefixMatch_AnsweredWithLocationAndNothingForwarded()
    {
        await using var engine = await EngineHost.StartAsync();
        var route = Route("", new PathMatchSnapshot(PathMatchTypes.PathPrefix, "/old-shop")) with
        {
            Filters = [new() { Type = FilterTypes.RequestRedirect, RequestRedirect = new() { StatusCode = 301, Path = new() { Type = "ReplacePrefixMatch", ReplacePrefixMatch = "/api" } } }],
        };
        Assert.Empty(await engine.ApplyAsync(Snapshot(1, route)));

        using var response = await engine.GetAsync("catalog", "/old-shop/items/7?page=2");

        Assert.Equal(HttpStatusCode.MovedPermanently, response.StatusCode);
        Assert.Equal("http://catalog/api/items/7?page=2", response.Headers.Location!.ToString());
    }

    [Fact]
    public async Task Redirect_ToHttpsOnAnotherHost_LocationUsesThem()
    {
        await using var engine = await EngineHost.StartAsync();
        var route = Route("") with
        {
            Filters = [new() { Type = FilterTypes.RequestRedirect, RequestRedirect = new() { Scheme = "https", Hostname = "shop.example.com" } }],
        };
        await engine.ApplyAsync(Snapshot(1, route));

        using var response = await engine.GetAsync("catalog", "/cart");

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("https://shop.example.com/cart", response.Headers.Location!.ToString());
    }

    /// <summary>A backend that records the Host and path of every request.</summary>
    private static async Task<(TestBackend Backend, System.Collections.Concurrent.ConcurrentQueue<string> Seen)> StartHostRecordingAsync()
    {
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var backend = await TestBackend.StartAsync("catalog");
        backend.Handler = context =>
        {
            seen.Enqueue($"{context.Request.Host} {context.Request.Path}");
            return Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "ok");
        };
        return (backend, seen);
    }

    [Fact]
    public async Task NoRewrite_TheBackendGetsTheHostTheCallerAskedFor()
    {
        var (backend, seen) = await StartHostRecordingAsync();
        await using var _ = backend;
        await using var engine = await EngineHost.StartAsync();
        Assert.Empty(await engine.ApplyAsync(Snapshot(1, Route("catalog"), ("catalog", [backend.Url]))));

        using var response = await engine.GetAsync("catalog", "/items/7");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("catalog /items/7", Assert.Single(seen));
    }

    [Fact]
    public async Task UrlRewrite_HostnameAndPrefix_TheBackendGetsTheRewrittenHostAndPath()
    {
        var (backend, seen) = await StartHostRecordingAsync();
        await using var _ = backend;
        await using var engine = await EngineHost.StartAsync();
        var route = Route("catalog", new PathMatchSnapshot(PathMatchTypes.PathPrefix, "/shop")) with
        {
            Filters = [new() { Type = FilterTypes.UrlRewrite, UrlRewrite = new() { Hostname = "catalog.internal", Path = new() { Type = "ReplacePrefixMatch", ReplacePrefixMatch = "/api" } } }],
        };
        Assert.Empty(await engine.ApplyAsync(Snapshot(1, route, ("catalog", [backend.Url]))));

        using var response = await engine.GetAsync("catalog", "/shop/items/7");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("catalog.internal /api/items/7", Assert.Single(seen));
    }

    [Fact]
    public async Task FaultAbort_EveryRequest_AnsweredWithTheStatusAndNeverForwarded()
    {
        await using var backend = await TestBackend.StartAsync("catalog-app");
        await using var engine = await EngineHost.StartAsync();
        var route = Route("catalog") with { Filters = [new() { Type = FilterTypes.FaultInjection, FaultInjection = new() { Abort = new() { HttpStatus = 418, Percentage = 100 } } }] };
        await engine.ApplyAsync(Snapshot(1, route, ("catalog", [backend.Url])));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal((HttpStatusCode)418, response.StatusCode);
        Assert.Equal(MeshErrors.FaultInjected, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public async Task FaultAbort_ZeroPercent_EveryRequestServed()
    {
        await using var backend = await TestBackend.StartAsync("catalog-app");
        await using var engine = await EngineHost.StartAsync();
        var route = Route("catalog") with { Filters = [new() { Type = FilterTypes.FaultInjection, FaultInjection = new() { Abort = new() { HttpStatus = 503, Percentage = 0 } } }] };
        await engine.ApplyAsync(Snapshot(1, route, ("catalog", [backend.Url])));

        for (var i = 0; i < 50; i++)
        {
            using var response = await engine.GetAsync("catalog");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task FaultDelay_EveryRequest_HeldUntilTheDelayHasPassed()
    {
        var time = new ManualTimeProvider();
        await using var backend = await TestBackend.StartAsync("catalog-app");
        await using var engine = await EngineHost.StartAsync(time: time);
        var route = Route("catalog") with { Filters = [new() { Type = FilterTypes.FaultInjection, FaultInjection = new() { Delay = new() { FixedDelay = "5s", Percentage = 100 } } }] };
        await engine.ApplyAsync(Snapshot(1, route, ("catalog", [backend.Url])));

        var due = time.GetUtcNow() + TimeSpan.FromSeconds(5);
        var pending = engine.GetAsync("catalog");
        await Eventually.UntilAsync(() => time.HasTimerDueAt(due), TimeSpan.FromSeconds(10), "the 5 s delay to start");
        Assert.False(pending.IsCompleted);
        Assert.Empty(backend.Requests);
        time.Advance(TimeSpan.FromSeconds(5));

        using var response = await pending.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task RateLimit_BucketEmpty_429WithRetryAfterAndReason()
    {
        await using var backend = await TestBackend.StartAsync("catalog-app");
        await using var engine = await EngineHost.StartAsync();
        var route = Route("catalog") with { RateLimit = new() { Name = "tight", Requests = 3, Period = "1m" } };
        await engine.ApplyAsync(Snapshot(1, route, ("catalog", [backend.Url])));

        for (var i = 0; i < 3; i++)
        {
            using var ok = await engine.GetAsync("catalog");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var limited = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(MeshErrors.RateLimited, limited.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.InRange(limited.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        Assert.Equal("rate-limited: rate limit 'tight' allows 3 requests per 1m.\n", await limited.Content.ReadAsStringAsync(Cancel));
        Assert.Equal(3, backend.Requests.Count);
    }

    [Fact]
    public async Task RateLimit_PerSource_EachClientAddressHasItsOwnBucket()
    {
        await using var backend = await TestBackend.StartAsync("catalog-app");
        await using var engine = await EngineHost.StartAsync();
        var route = Route("catalog") with { RateLimit = new() { Name = "per-client", Requests = 2, Period = "1m", Per = "Source" } };
        await engine.ApplyAsync(Snapshot(1, route, ("catalog", [backend.Url])));
        using var first = engine.ClientFrom("127.0.0.2");
        using var second = engine.ClientFrom("127.0.0.3");

        var firstStatuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await engine.GetAsync("catalog", client: first);
            firstStatuses.Add(response.StatusCode);
        }

        using var other = await engine.GetAsync("catalog", client: second);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], firstStatuses);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task RateLimit_UnrelatedSnapshotChange_BucketNotRefilled()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await using var engine = await EngineHost.StartAsync();
        var route = Route("catalog") with { RateLimit = new() { Name = "tight", Requests = 1, Period = "1m" } };
        await engine.ApplyAsync(Snapshot(1, route, ("catalog", [a.Url])));
        using (var used = await engine.GetAsync("catalog"))
        {
            Assert.Equal(HttpStatusCode.OK, used.StatusCode);
        }

        await engine.ApplyAsync(Snapshot(2, route, ("catalog", [a.Url, b.Url])));

        using var response = await engine.GetAsync("catalog");
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
    }

    private static RouteSnapshot Mirrored(double percent) => Route("catalog") with
    {
        Filters = [new() { Type = FilterTypes.RequestMirror, RequestMirror = new() { BackendRef = new() { Name = "shadow" }, Percent = percent } }],
    };

    [Fact]
    public async Task Mirror_EveryRequest_ShadowGetsACopyMarkedAsSuch()
    {
        await using var primary = await TestBackend.StartAsync("primary");
        var copies = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var shadow = await TestBackend.StartAsync("shadow");
        shadow.Handler = async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            copies.Enqueue($"{context.Request.Method} {context.Request.Path} {context.Request.Headers["x-mesh-mirror"]} {await reader.ReadToEndAsync()}");
        };
        await using var engine = await EngineHost.StartAsync();
        Assert.Empty(await engine.ApplyAsync(Snapshot(1, Mirrored(100), ("catalog", [primary.Url]), ("shadow", [shadow.Url]))));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent("order 7") };
        request.Headers.Host = "catalog";
        using var response = await engine.Client.SendAsync(request, Cancel);

        Assert.Equal("primary POST /orders", await response.Content.ReadAsStringAsync(Cancel));
        await Eventually.UntilAsync(() => copies.Count == 1, TimeSpan.FromSeconds(10), "the copy to reach the shadow");
        Assert.Equal("POST /orders true order 7", copies.Single());
    }

    [Fact]
    public async Task Mirror_ToAnHttp2OnlyCluster_TheCopyGoesOverHttp2WithTheCallersHostAndSource_AndABodyOfUnknownLengthIsNotMirrored()
    {
        await using var primary = await TestBackend.StartAsync("primary");
        var copies = new System.Collections.Concurrent.ConcurrentQueue<string>();
        // h2c only, as a gRPC server: an HTTP/1.1 copy would be refused.
        await using var shadow = await TestBackend.StartAsync("shadow", Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
        shadow.Handler = async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            copies.Enqueue($"{context.Request.Protocol} {context.Request.Method} {context.Request.Path} host={context.Request.Host} source={context.Request.Headers[MeshHeaders.Source]} {body}");
        };
        await using var engine = await EngineHost.StartAsync();
        var snapshot = new ProxySnapshot(1, [Mirrored(100)],
        [
            new ClusterSnapshot("catalog", [new EndpointSnapshot("catalog-1", primary.Url.ToString().TrimEnd('/'))]),
            new ClusterSnapshot("shadow", [new EndpointSnapshot("shadow-1", shadow.Url.ToString().TrimEnd('/')) { Http2Address = shadow.Url.ToString().TrimEnd('/') }]),
        ]);
        Assert.Empty(await engine.ApplyAsync(snapshot));

        // A chunked body first: its length is unknown until it ends, so it is not copied.
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/stream") { Content = new StreamContent(new MemoryStream("part 1"u8.ToArray())) };
        chunked.Headers.Host = "catalog";
        chunked.Headers.TransferEncodingChunked = true;
        using var streamed = await engine.Client.SendAsync(chunked, Cancel);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent("order 7") };
        request.Headers.Host = "catalog";
        using var response = await engine.Client.SendAsync(request, Cancel);

        Assert.Equal("primary POST /stream", await streamed.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("primary POST /orders", await response.Content.ReadAsStringAsync(Cancel));
        await Eventually.UntilAsync(() => !copies.IsEmpty, TimeSpan.FromSeconds(10), "the copy to reach the shadow");
        Assert.Equal(["HTTP/2 POST /orders host=catalog source=gateway/test order 7"], copies);
    }

    [Fact]
    public async Task Mirror_ShadowDownOrHanging_PrimaryAnswersUnaffected()
    {
        await using var primary = await TestBackend.StartAsync("primary");
        await using var hanging = await TestBackend.StartAsync("hanging");
        hanging.Handler = TestBackend.HangUntilAborted;
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(1, Mirrored(100), ("catalog", [primary.Url]), ("shadow", [hanging.Url, Ports.ClosedUrl()])));

        for (var i = 0; i < 10; i++)
        {
            using var response = await engine.GetAsync("catalog", $"/items/{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal($"primary GET /items/{i}", await response.Content.ReadAsStringAsync(Cancel));
        }

        Assert.Equal(10, primary.Requests.Count);
    }

    [Fact]
    public async Task Mirror_HangingShadowWithConnectionLimits_CopiesStopAtItsLimit_DropsCountedAndLogged_PrimaryUnaffected_ThenResume()
    {
        await using var primary = await TestBackend.StartAsync("primary");
        var copies = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var shadow = await TestBackend.StartAsync("shadow");
        shadow.Handler = async context =>
        {
            copies.Enqueue(context.Request.Path.Value ?? "");
            await release.Task.WaitAsync(context.RequestAborted);
        };
        await using var engine = await EngineHost.StartAsync();
        var snapshot = new ProxySnapshot(1, [Mirrored(100)],
        [
            new ClusterSnapshot("catalog", [new EndpointSnapshot("catalog-1", primary.Url.ToString().TrimEnd('/'))]),
            new ClusterSnapshot("shadow", [new EndpointSnapshot("shadow-1", shadow.Url.ToString().TrimEnd('/'))])
            {
                Policy = new BackendPolicy { Name = "shadow-limits", TargetRef = new() { Name = "shadow" }, ConnectionLimits = new() { MaxConnections = 2, MaxPendingRequests = 1 } },
            },
        ]);
        Assert.Empty(await engine.ApplyAsync(snapshot));

        // One at a time: each copy is admitted or dropped before the next request arrives. The first two hang in the
        // shadow, on the two connections its limits allow; the third waits for one of them (maxPendingRequests 1).
        for (var i = 0; i < 10; i++)
        {
            using var response = await engine.GetAsync("catalog", $"/items/{i}");
            Assert.Equal($"primary GET /items/{i}", await response.Content.ReadAsStringAsync(Cancel));
        }

        await Eventually.UntilAsync(() => copies.Count >= 2, TimeSpan.FromSeconds(10), "two copies to reach the hanging shadow");
        Assert.Contains(engine.Logs.Lines, line => line.Contains("Mirror shadow is at its limit of 3 copies in flight", StringComparison.Ordinal) && line.EndsWith(": 1 dropped since the last report", StringComparison.Ordinal));
        Assert.Contains("mesh_mirror_dropped_total{mirror=\"shadow\"} 7\n",
            engine.Services.GetRequiredService<AspireMesh.ProxyEngine.Telemetry.RequestMetrics>().ToPrometheusText(), StringComparison.Ordinal);

        // Once the shadow answers, the places are given back and copies flow again.
        release.SetResult();
        await Eventually.UntilAsync(async () =>
        {
            using var response = await engine.GetAsync("catalog", "/after");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return copies.Contains("/after");
        }, TimeSpan.FromSeconds(10), "a copy to reach the shadow after it answered");
        Assert.Equal(["/items/0", "/items/1", "/items/2"], copies.Where(p => p.StartsWith("/items/", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Mirror_ZeroPercent_NoCopies()
    {
        await using var primary = await TestBackend.StartAsync("primary");
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(Snapshot(1, Mirrored(0), ("catalog", [primary.Url]), ("shadow", [shadow.Url])));

        for (var i = 0; i < 20; i++)
        {
            using var response = await engine.GetAsync("catalog");
        }

        Assert.Equal(20, primary.Requests.Count);
        Assert.Empty(shadow.Requests);
    }
}
