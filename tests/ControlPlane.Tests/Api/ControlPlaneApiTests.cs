using System.Net;
using System.Net.Http.Json;
using System.Text;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ControlPlane.Tests.Api;

/// <summary>The control plane's HTTP API, against the real process.</summary>
public sealed class ControlPlaneApiTests
{
    private static readonly MeshConfig Storefront = new()
    {
        Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog" }],
        Routes = [new() { Name = "web", ParentRefs = [new() { Name = "gateway" }], Rules = [new() { BackendRefs = [new() { Name = "frontend" }] }] }],
    };

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Services_RegisteredInstance_ListedHealthyUnderItsService()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly, Storefront);

        var lease = await controlPlane.Client.RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true), Cancel);

        Assert.Equal("catalog-1", lease.InstanceId);
        var services = await controlPlane.GetServicesAsync();
        Assert.Equal(["catalog", "frontend"], services.Services.Select(s => s.Name));
        var instance = Assert.Single(services.Services.Single(s => s.Name == "catalog").Instances);
        Assert.Equal(("catalog-1", "http://127.0.0.1:5001", InstanceHealth.Healthy), (instance.Id, instance.Address, instance.Health));
        Assert.Empty(services.Services.Single(s => s.Name == "frontend").Instances);
    }

    [Fact]
    public async Task Start_WatchesNoFiles()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "inotify, and /proc to count its instances, are Linux's");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly);

        // Every file watcher holds an inotify instance, and a Linux user gets 128 of them for all their processes.
        Assert.Equal(0, FileWatchers.Count(controlPlane.Process.Id));
    }

    [Fact]
    public async Task Heartbeat_UnknownInstance_Answers404SoTheSidecarReRegisters()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly);

        Assert.False(await controlPlane.Client.HeartbeatAsync("ghost-1", new Heartbeat(true), Cancel));
    }

    [Fact]
    public async Task Lease_HeartbeatsStop_InstanceIsEvicted()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly, null, "--ControlPlane:LeaseDuration=00:00:03");
        await controlPlane.Client.RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true), Cancel);
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("catalog-1"));

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") is null, TimeSpan.FromSeconds(20), "catalog-1 to be evicted");

        // The log line is written after the registry forgets the instance, so it can trail the answer above.
        await controlPlane.Process.WaitForLineAsync("catalog-1 evicted", Deadline);
        Assert.False(await controlPlane.Client.HeartbeatAsync("catalog-1", new Heartbeat(true), Cancel));
    }

    [Fact]
    public async Task Lease_ControlPlanePausedLongerThanALease_EvictsNoInstanceOnResuming()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "SIGSTOP and SIGCONT are POSIX signals");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly, null, "--ControlPlane:LeaseDuration=00:00:08");
        var grant = await controlPlane.Client.RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true), Cancel);
        var lapsed = DateTimeOffset.UtcNow + 2 * TimeSpan.FromSeconds(grant.LeaseDurationSeconds);

        // The process stopped (SIGSTOP: a suspended machine, a paused container) until catalog-1's lease has run out
        // twice over: it took no heartbeat meanwhile, so none can have been missed.
        await SignalAsync(controlPlane.Process.Id, "STOP");
        try
        {
            await Eventually.UntilAsync(() => DateTimeOffset.UtcNow > lapsed && (!OperatingSystem.IsLinux() || Stopped(controlPlane.Process.Id)), TimeSpan.FromSeconds(60),
                "catalog-1's lease to run out twice while the control plane is stopped");
        }
        finally
        {
            await SignalAsync(controlPlane.Process.Id, "CONT");
        }

        await controlPlane.Process.WaitForLineAsync(@"The control plane did not run for \d+\.\d s", TimeSpan.FromSeconds(30));
        Assert.True(await controlPlane.Client.HeartbeatAsync("catalog-1", new Heartbeat(true), Cancel), "catalog-1 was evicted on resuming");
        Assert.DoesNotContain("catalog-1 evicted", controlPlane.Process.Output, StringComparison.Ordinal);

        // Leases run again from there: one whose heartbeats stop goes as before.
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") is null, TimeSpan.FromSeconds(40), "catalog-1 to be evicted");
    }

    [Fact]
    public async Task Stop_WithAWatchABlockingQueryAndATapOpen_AnswersEachAtOnce_AndExits()
    {
        // Their own waits (10 minutes) play no part: what ends them is the stop.
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly, Storefront, "--ControlPlane:WatchTimeout=00:10:00");
        var version = (await controlPlane.Client.WatchAsync(ProxyKinds.Sidecar, "catalog", "catalog-1", 0, Cancel))!.Snapshot.Version;
        long index;
        using (var services = await controlPlane.Http.GetAsync("v1/catalog/services", Cancel))
        {
            index = long.Parse(services.Headers.GetValues("X-Consul-Index").Single(), System.Globalization.CultureInfo.InvariantCulture);
        }

        using var waiting = new HttpClient { BaseAddress = controlPlane.Url, Timeout = Timeout.InfiniteTimeSpan };
        var watch = waiting.GetAsync($"v1/watch/sidecar/catalog?proxy=catalog-1&version={version}", Cancel);
        var blocking = waiting.GetAsync($"v1/catalog/services?index={index}&wait=10m", Cancel);
        using var tap = await waiting.GetAsync("v1/tap", HttpCompletionOption.ResponseHeadersRead, Cancel);
        var tapped = tap.Content.ReadAsStringAsync(Cancel);
        await controlPlane.Process.WaitForLineAsync($"Request starting HTTP/1.1 GET .*/v1/watch/sidecar/catalog\\?proxy=catalog-1&version={version}", Deadline);
        await controlPlane.Process.WaitForLineAsync($"Request starting HTTP/1.1 GET .*/v1/catalog/services\\?index={index}&wait=10m", Deadline);

        // A graceful stop waits for the requests in flight (30 s at most, then cuts them): these are answered at once,
        // as they stand, and the proxy or client asks again.
        var stopped = controlPlane.Process.StopAsync(TimeSpan.FromSeconds(60));
        using (var watched = await watch.WaitAsync(Deadline, Cancel))
        {
            Assert.Equal(HttpStatusCode.NotModified, watched.StatusCode);
        }

        using (var blocked = await blocking.WaitAsync(Deadline, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, blocked.StatusCode);
            Assert.Equal($"{index}", blocked.Headers.GetValues("X-Consul-Index").Single());
        }

        Assert.Equal(": tap\n\n", await tapped.WaitAsync(Deadline, Cancel));
        Assert.Equal(0, await stopped.WaitAsync(Deadline, Cancel));
    }

    /// <summary>Whether the process is stopped by a signal (state T in /proc/PID/stat).</summary>
    private static bool Stopped(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('T');
    }

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync(Cancel);
        Assert.Equal(0, kill.ExitCode);
    }

    [Fact]
    public async Task Deregister_RegisteredInstance_RemovedAtOnce()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly);
        await controlPlane.Client.RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true), Cancel);

        await controlPlane.Client.DeregisterAsync("catalog-1", Cancel);

        Assert.Null(await controlPlane.HealthOfAsync("catalog-1"));
    }

    [Fact]
    public async Task Health_UnhealthyWithAReason_ListedAndLoggedOnOneBoundedLine_ThenClearedWhenHealthy()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly, Storefront, "--ControlPlane:LeaseDuration=00:10:00");
        await controlPlane.Client.RegisterAsync("catalog-1",
            new InstanceRegistration("catalog", "http://127.0.0.1:5001", false) { Reason = "its application answers GET http://127.0.0.1:5000/health with 503" }, Cancel);

        Assert.Equal("its application answers GET http://127.0.0.1:5000/health with 503", await controlPlane.ReasonOfAsync("catalog-1"));
        await controlPlane.Process.WaitForLineAsync("Instance catalog-1 is unhealthy: its application answers GET", TimeSpan.FromSeconds(30));

        // A sidecar's word is shown in tables and logs: one line, and not a page of it.
        Assert.True(await controlPlane.Client.HeartbeatAsync("catalog-1", new Heartbeat(false) { Reason = "first\tline\u001b\nsecond " + new string('x', 1000) }, Cancel));
        var shown = await controlPlane.ReasonOfAsync("catalog-1");
        Assert.NotNull(shown);
        Assert.StartsWith("first line second xxx", shown, StringComparison.Ordinal);
        Assert.Equal(300, shown.Length);

        // Healthy: no reason, whatever the heartbeat says.
        Assert.True(await controlPlane.Client.HeartbeatAsync("catalog-1", new Heartbeat(true) { Reason = "stale" }, Cancel));
        Assert.Null(await controlPlane.ReasonOfAsync("catalog-1"));
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("catalog-1"));
    }

    [Fact]
    public async Task Watch_OlderVersion_AnswersAtOnceWithSnapshot()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly, Storefront);

        var watched = await controlPlane.Client.WatchAsync(ProxyKinds.Gateway, "gateway", "gateway-test", 0, Cancel);

        Assert.NotNull(watched);
        Assert.Empty(watched.IgnoredFields);
        var snapshot = watched.Snapshot;
        Assert.True(snapshot.Version > 0);
        var route = Assert.Single(snapshot.Routes);
        Assert.Equal("frontend", route.Cluster);
    }

    [Fact]
    public async Task Watch_CurrentVersion_WaitsAndIsWokenByARegistration()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly, Storefront);
        var first = (await controlPlane.Client.WatchAsync(ProxyKinds.Sidecar, "frontend", "frontend-1", 0, Cancel))?.Snapshot;

        var watching = controlPlane.Client.WatchAsync(ProxyKinds.Sidecar, "frontend", "frontend-1", first!.Version, Cancel);
        Assert.False(watching.IsCompleted);
        await controlPlane.Client.RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true), Cancel);

        var pushed = (await watching.WaitAsync(TimeSpan.FromSeconds(20), Cancel))?.Snapshot;
        Assert.NotNull(pushed);
        Assert.True(pushed.Version > first.Version);
        Assert.Equal("catalog-1", Assert.Single(pushed.Clusters.Single(c => c.Name == "catalog").Endpoints).InstanceId);
    }

    [Fact]
    public async Task Watch_NoChangeWithinWatchTimeout_Answers304()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly, null, "--ControlPlane:WatchTimeout=00:00:00.300");
        var first = (await controlPlane.Client.WatchAsync(ProxyKinds.Sidecar, "frontend", "frontend-1", 0, Cancel))?.Snapshot;

        Assert.Null(await controlPlane.Client.WatchAsync(ProxyKinds.Sidecar, "frontend", "frontend-1", first!.Version, Cancel));
    }

    [Fact]
    public async Task Watch_UnknownProxyKind_Answers404WithReason()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly);

        using var response = await controlPlane.Http.GetAsync("v1/watch/toaster/x?version=0", Cancel);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.MeshProblem, Cancel);
        Assert.StartsWith("'toaster' is not a proxy kind", problem!.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_InvalidFields_Answers400ListingEveryError()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly);

        using var response = await controlPlane.Http.PutAsJsonAsync("v1/instances/x-1", new InstanceRegistration("Not_A_Name", "ftp://nowhere", true), MeshJsonContext.Default.InstanceRegistration, Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.MeshProblem, Cancel);
        Assert.Equal(["service", "address"], problem!.Errors!.Select(e => e.Path));
        Assert.Empty((await controlPlane.GetServicesAsync()).Services);
    }

    [Fact]
    public async Task Register_MalformedJson_Answers400WithTheParserReason()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly);

        using var response = await controlPlane.Http.PutAsync("v1/instances/x-1", new StringContent("{\"service\": \"catalog\", ", Encoding.UTF8, "application/json"), Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.MeshProblem, Cancel);
        Assert.Contains("JSON", problem!.Detail, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task ProxyMessages_MembersOfANewerBuild_Accepted_TheKnownOnesApplied()
    {
        // A proxy one version ahead of its control plane (the control plane was rolled back) sends members this build
        // does not know: refusing them would drop its registration and with it the instance's traffic.
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly);
        static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

        using var registered = await controlPlane.Http.PutAsync("v1/instances/x-1",
            Json("""{"service":"catalog","address":"http://127.0.0.1:1","healthy":true,"colour":"red","zone":{"name":"a"}}"""), Cancel);
        using var heartbeat = await controlPlane.Http.PostAsync("v1/instances/x-1/heartbeat",
            Json("""{"healthy":false,"reason":"app answered 503","load":0.5}"""), Cancel);
        using var report = await controlPlane.Http.PostAsync("v1/proxies/x-1/report",
            Json("""{"kind":"sidecar","name":"catalog","appliedVersion":0,"proxyVersion":"9.9.9","features":["x"]}"""), Cancel);

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.NoContent, HttpStatusCode.NoContent), (registered.StatusCode, heartbeat.StatusCode, report.StatusCode));
        var instance = Assert.Single((await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "catalog").Instances);
        Assert.Equal(("http://127.0.0.1:1", InstanceHealth.Unhealthy, "app answered 503"), (instance.Address, instance.Health, instance.Reason));
        var proxies = await controlPlane.Http.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel);
        Assert.Equal("9.9.9", Assert.Single(proxies!.Proxies).ProxyVersion);
    }

    [Fact]
    public async Task Proxies_SilentLongerThanRetention_Forgotten_WatchingOnesKept()
    {
        // Proxies come and go (every restart of a gateway is a new id): the records of gone ones must not pile up.
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly, null, "--ControlPlane:ProxyRetention=00:00:02");
        var current = await controlPlane.Client.WatchAsync(ProxyKinds.Sidecar, "frontend", "live-1", 0, Cancel);
        var watching = controlPlane.Client.WatchAsync(ProxyKinds.Sidecar, "frontend", "live-1", current!.Snapshot.Version, Cancel);
        await Eventually.UntilAsync(async () => (await ListAsync()).Any(p => p is { Id: "live-1", Watching: true }), Deadline, "live-1 to be watching");
        using var report = await controlPlane.Http.PostAsync("v1/proxies/gone-1/report",
            new StringContent("""{"kind":"sidecar","name":"catalog","appliedVersion":1}""", Encoding.UTF8, "application/json"), Cancel);
        Assert.Equal(HttpStatusCode.NoContent, report.StatusCode);
        Assert.Contains(await ListAsync(), p => p.Id == "gone-1");

        await Eventually.UntilAsync(async () => !(await ListAsync()).Any(p => p.Id == "gone-1"), Deadline, "gone-1 to be forgotten");

        // live-1 was last heard of before gone-1 reported, but it is watching still.
        Assert.False(watching.IsCompleted);
        Assert.Equal(["live-1"], (await ListAsync()).Select(p => p.Id));

        async Task<IReadOnlyList<AspireMesh.Contracts.Admin.ProxyInfo>> ListAsync() =>
            (await controlPlane.Http.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel))!.Proxies;
    }

    [Theory]
    [InlineData("v1/config/rollback", """{"version":1,"verison":2}""", "'verison'")]
    [InlineData("v1/bootstrap-credentials", """{"kind":"sidecar","name":"catalog","lifetime":60}""", "'lifetime'")]
    public async Task OperatorInput_UnknownMember_Answers400NamingIt(string path, string json, string named)
    {
        // What people write stays strict: a misspelt field would otherwise pass as its default.
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ControlPlaneApiTests).Assembly);

        using var response = await controlPlane.Admin.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.MeshProblem, Cancel);
        Assert.Contains(named, problem!.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_InvalidConfigFile_ExitsNonZeroNamingEachError()
    {
        var config = new MeshConfig
        {
            Services = [new() { Name = "catalog" }, new() { Name = "catalog" }],
            Routes = [new() { Name = "web", ParentRefs = [new() { Name = "gateway" }], Rules = [new() { BackendRefs = [new() { Name = "payments" }] }] }],
        };
        var path = Path.Combine(Path.GetTempPath(), $"aspiremesh-test-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, System.Text.Json.JsonSerializer.Serialize(config, MeshJsonContext.Default.MeshConfig), Cancel);
        try
        {
            await using var process = await TestProcess.StartDotnetAsync("controlplane",
                BuiltProjects.Assembly(typeof(ControlPlaneApiTests).Assembly, "ControlPlane.csproj"), ["--urls", $"http://127.0.0.1:{Ports.FreeBelowEphemeral()}", "--config", path]);

            var code = await process.Exited.WaitAsync(TimeSpan.FromSeconds(60), Cancel);

            Assert.Equal(2, code);
            Assert.Contains(path, process.Output, StringComparison.Ordinal);
            Assert.Contains("services[1].name: service 'catalog' is declared more than once.", process.Output, StringComparison.Ordinal);
            Assert.Contains("routes[0].rules[0].backendRefs[0].name: 'payments' is not a declared service.", process.Output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
