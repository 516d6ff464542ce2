using System.Net;
using AspireMesh.Contracts.Registry;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>The sidecar as a real process between a real control plane and real Kestrel applications.</summary>
public sealed class SidecarTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task<ControlPlaneProcess> StartControlPlaneAsync(params string[] args) =>
        ControlPlaneProcess.StartAsync(typeof(SidecarTests).Assembly, null, args);

    [Fact]
    public async Task Start_AppHealthy_RegistersInboundAddressAndBecomesReady()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-7", app.Url);

        await Eventually.UntilAsync(async () => await sidecar.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "the sidecar to be ready");

        var instance = (await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "catalog").Instances.Single();
        Assert.Equal(("catalog-7", sidecar.Inbound.ToString().TrimEnd('/'), InstanceHealth.Healthy), (instance.Id, instance.Address, instance.Health));
        Assert.Contains("GET /health", app.Requests);
    }

    [Fact]
    public async Task Start_WatchesNoFiles_ItsSettingsComeFromItsCommandLineAndTheControlPlane()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "inotify, and /proc to count its instances, are Linux's");
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-7", app.Url);
        await Eventually.UntilAsync(async () => await sidecar.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "the sidecar to be ready");

        // Every file watcher holds an inotify instance, and a Linux user gets 128 of them for all their processes.
        Assert.Equal(0, FileWatchers.Count(sidecar.Process.Id));
    }

    [Fact]
    public async Task Inbound_Request_ForwardedToAppAndStampedWithInstance()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-7", app.Url);
        using var peer = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var http = peer.Client();

        using var response = await http.GetAsync(new Uri(MeshIdentity.Secure(sidecar.Inbound), "items?page=2"), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("app GET /items", await response.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("catalog-7", response.Headers.GetValues(MeshHeaders.Instance).Single());
        Assert.Contains("GET /items?page=2", app.Requests);
    }

    [Fact]
    public async Task Inbound_AfterABurst_ClosesItsIdleConnectionsToTheAppWithinSeconds()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the app's connections are read from /proc/net/tcp");
        const int Concurrent = 8;
        await using var app = await TestBackend.StartAsync("app");
        var callers = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Handler = async context =>
        {
            if (context.Request.Path != "/health")
            {
                // Every request is held until all have arrived: the sidecar needs a connection for each.
                callers[context.Connection.RemotePort] = true;
                if (callers.Count >= Concurrent)
                {
                    allArrived.TrySetResult();
                }

                await release.Task.WaitAsync(Deadline, Cancel);
            }

            await context.Response.WriteAsync("app", Cancel);
        };
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-7", app.Url);
        using var peer = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var http = peer.Client();

        var sent = Task.WhenAll(Enumerable.Range(0, Concurrent).Select(i => http.GetAsync(new Uri(MeshIdentity.Secure(sidecar.Inbound), $"items/{i}"), Cancel)));
        try
        {
            await allArrived.Task.WaitAsync(Deadline, Cancel);
            // Counted while the requests are held, so that no idle timeout can have run yet.
            Assert.Equal(Concurrent, callers.Count);
            Assert.Equal(Concurrent, OpenConnections(app.Url.Port, callers.Keys));
        }
        finally
        {
            release.SetResult();
        }

        var burst = await sent.WaitAsync(Deadline, Cancel);
        Assert.All(burst, response => Assert.Equal(HttpStatusCode.OK, response.StatusCode));
        foreach (var response in burst)
        {
            response.Dispose();
        }

        // .NET's default would keep them a minute; the sidecar lets them go after a few seconds idle.
        await Eventually.UntilAsync(() => Task.FromResult(OpenConnections(app.Url.Port, callers.Keys) == 0), TimeSpan.FromSeconds(20),
            $"the sidecar to close its {Concurrent} idle connections to the app");
        using var after = await http.GetAsync(new Uri(MeshIdentity.Secure(sidecar.Inbound), "items"), Cancel);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    /// <summary>Established connections to the listener on <paramref name="port"/> from any of <paramref name="from"/> (ports), in /proc/net/tcp.</summary>
    private static int OpenConnections(int port, ICollection<int> from) => File.ReadLines("/proc/net/tcp").Skip(1)
        .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        .Count(f => f[3] == "01" && PortOf(f[1]) == port && from.Contains(PortOf(f[2])));

    private static int PortOf(string address) => int.Parse(address[(address.IndexOf(':', StringComparison.Ordinal) + 1)..], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Inbound_AppNotListening_503AppUnavailableAndInstanceUnhealthy()
    {
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-7", Ports.ClosedUrl());
        using var peer = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var http = peer.Client();

        using var response = await http.GetAsync(new Uri(MeshIdentity.Secure(sidecar.Inbound), "items"), Cancel);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(MeshErrors.AppUnavailable, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.StartsWith("app-unavailable: could not connect to the application of instance 'catalog-7'", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-7") == InstanceHealth.Unhealthy, Deadline, "catalog-7 registered as unhealthy");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await sidecar.ReadyStatusAsync());
    }

    [Theory]
    [InlineData("inline")]
    [InlineData("pool")]
    public async Task Outbound_CallByServiceName_ReachesThePeerThroughItsSidecar(string io)
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url, "--io", io);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url, "--io", io);
        using var client = frontend.OutboundClient();

        string? body = null;
        var status = 0;
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                using var response = await client.GetAsync("http://catalog/items", Cancel);
                body = await response.Content.ReadAsStringAsync(Cancel);
                status = (int)response.StatusCode;
                return response.StatusCode == HttpStatusCode.OK && response.Headers.GetValues(MeshHeaders.Instance).Single() == "catalog-1";
            }, Deadline, "frontend's sidecar to route http://catalog/ to catalog-1");
        }
        catch (TimeoutException ex)
        {
            // What the last answer was, and what both sidecars and the control plane (health changes, evictions) said
            // meanwhile, for a failure seen once under a full run.
            throw new TimeoutException($"{ex.Message} Last answer: {status} {body}{Environment.NewLine}frontend:{Environment.NewLine}{frontend.Process.Output}{Environment.NewLine}catalog:{Environment.NewLine}{catalog.Process.Output}{Environment.NewLine}control plane:{Environment.NewLine}{controlPlane.Process.Output}", ex);
        }

        Assert.Equal("catalog-app GET /items", body);
        Assert.DoesNotContain(frontendApp.Requests, r => r.StartsWith("GET /items", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Outbound_UnknownServiceName_404NoRouteNamingIt()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);
        await Eventually.UntilAsync(async () => await sidecar.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "the sidecar to be ready");
        using var client = sidecar.OutboundClient();

        using var response = await client.GetAsync("http://payments/charge", Cancel);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(MeshErrors.NoRoute, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Contains("no service named 'payments'", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_WithATapOpen_EndsTheTapStream_AndExits()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url);
        using var watcher = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var tap = await watcher.GetAsync(new Uri(sidecar.Admin, "tap"), HttpCompletionOption.ResponseHeadersRead, Cancel);
        Assert.Equal("text/event-stream", tap.Content.Headers.ContentType?.MediaType);
        var body = tap.Content.ReadAsStringAsync(Cancel);

        // The stream is ended, not cut when the stop's time is up: the watcher reads it to its end.
        var stopped = sidecar.Process.StopAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(": tap\n\n", await body.WaitAsync(Deadline, Cancel));
        Assert.Equal(0, await stopped.WaitAsync(Deadline, Cancel));
    }

    [Fact]
    public async Task Stop_Sigterm_DeregistersBeforeTheLeaseWouldExpire()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync("--ControlPlane:LeaseDuration=00:10:00");
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Healthy, Deadline, "catalog-1 registered");

        Assert.Equal(0, await sidecar.Process.StopAsync(TimeSpan.FromSeconds(20)).WaitAsync(Deadline, Cancel));

        var health = await controlPlane.HealthOfAsync("catalog-1");
        Assert.True(health is null, $"catalog-1 is still registered ({health}).\nSidecar:\n{sidecar.Process.Output}\nControl plane:\n{controlPlane.Process.Output}");
    }

    [Fact]
    public async Task Heartbeat_AppStartsFailingHealthCheck_InstanceMarkedUnhealthy()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Healthy, Deadline, "catalog-1 healthy");

        app.Handler = context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        };

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Unhealthy, Deadline, "catalog-1 unhealthy");
        // And why, for an operator: the probe, its answer, and that it was not a one-off.
        var reason = await controlPlane.ReasonOfAsync("catalog-1");
        Assert.StartsWith($"its application answers GET {new Uri(app.Url, "/health")} with 503 Service Unavailable", reason, StringComparison.Ordinal);
        Assert.EndsWith("(3 or more health checks in a row failed)", reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// With <c>--app-health-timeout 0.3</c>, a health endpoint that stops answering fails each probe after 0.3 s, not the
    /// default 2 s, and the reason says within what time it did not answer.
    /// </summary>
    [Fact]
    public async Task Heartbeat_AppStopsAnsweringItsHealthCheck_UnhealthyAfterTheGivenTimeout()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url, "--app-health-timeout", "0.3");
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Healthy, Deadline, "catalog-1 healthy");

        // Each probe is held until the sidecar gives up on it and goes away.
        app.Handler = HoldUntilAbandonedAsync;

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Unhealthy, Deadline, "catalog-1 unhealthy");
        var reason = await controlPlane.ReasonOfAsync("catalog-1");
        Assert.StartsWith($"its application did not answer GET {new Uri(app.Url, "/health")} within 0.3 s", reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// A probe allowed longer than the instance's lease (4 s) does not hold the heartbeats back: while one is held by
    /// the app, the lease is renewed past its length and the instance stays healthy, as the last probe found it.
    /// </summary>
    [Fact]
    public async Task Heartbeat_ProbeHeldLongerThanTheLease_HeartbeatsGoOn_InstanceStaysHealthy()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url, "--app-health-timeout", "60");
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Healthy, Deadline, "catalog-1 healthy");
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ended = 0;
        app.Handler = async context =>
        {
            held.TrySetResult();
            await HoldUntilAbandonedAsync(context);
            Interlocked.Exchange(ref ended, 1);
        };
        await held.Task.WaitAsync(Deadline, Cancel);
        var since = await LastHeartbeatAsync(controlPlane);

        InstanceStatus? seen = null;
        await Eventually.UntilAsync(async () =>
        {
            seen = await InstanceAsync(controlPlane);
            return seen?.LastHeartbeat >= since + TimeSpan.FromSeconds(6);
        }, Deadline, () => $"heartbeats past the lease while the probe is held (last: {seen})");

        Assert.Equal(0, Volatile.Read(ref ended));
        Assert.Equal(InstanceHealth.Healthy, seen!.Health);
    }

    /// <summary>
    /// The first probe is held by the app (allowed 60 s): the instance registers meanwhile, unhealthy, saying that its
    /// application has not answered yet.
    /// </summary>
    [Fact]
    public async Task Registration_FirstProbeStillUnanswered_RegistersUnhealthySayingSo()
    {
        await using var app = await TestBackend.StartAsync("app");
        app.Handler = HoldUntilAbandonedAsync;
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url, "--app-health-timeout", "60");

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Unhealthy, Deadline, "catalog-1 registered, unhealthy");

        Assert.Equal($"its application has not answered GET {new Uri(app.Url, "/health")} yet (no health check passed yet)", await controlPlane.ReasonOfAsync("catalog-1"));
    }

    // The app's side of a probe it never answers: held until the sidecar gives up on it and goes away.
    private static async Task HoldUntilAbandonedAsync(HttpContext context)
    {
        var abandoned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var registration = context.RequestAborted.Register(() => abandoned.TrySetResult());
        await abandoned.Task;
    }

    private static async Task<InstanceStatus?> InstanceAsync(ControlPlaneProcess controlPlane) =>
        (await controlPlane.GetServicesAsync()).Services.SelectMany(s => s.Instances).FirstOrDefault(i => i.Id == "catalog-1");

    private static async Task<DateTimeOffset> LastHeartbeatAsync(ControlPlaneProcess controlPlane) =>
        (await InstanceAsync(controlPlane))?.LastHeartbeat ?? throw new InvalidOperationException("catalog-1 is not registered");

    [Theory]
    [InlineData("0", "--app-health-timeout: 0 is not a number of seconds from 0.001 to 300.")]
    [InlineData("0.0000001", "--app-health-timeout: 1E-07 is not a number of seconds from 0.001 to 300.")]
    [InlineData("-1", "--app-health-timeout: -1 is not a number of seconds from 0.001 to 300.")]
    [InlineData("301", "--app-health-timeout: 301 is not a number of seconds from 0.001 to 300.")]
    public async Task AppHealthTimeout_OutOfRange_RefusedAtStartNamingIt(string seconds, string expected)
    {
        await using var process = await TestProcess.StartDotnetAsync("sidecar", SidecarProcess.Assembly,
            ["--service", "catalog", "--app-url", "http://127.0.0.1:1", "--app-health-timeout", seconds]);
        Assert.NotEqual(0, await process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains(expected, process.Output + process.ErrorOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Heartbeat_AppFailsTwoProbesInARow_StaysHealthy()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await StartControlPlaneAsync();
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Healthy, Deadline, "catalog-1 healthy");

        // One fewer failed probe than it takes (a slow app, a busy machine); each probe's result goes out with the
        // heartbeat sent before the next probe, so the one that passes after them comes after both were reported.
        var failed = 0;
        var passedAfter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Handler = context =>
        {
            if (context.Request.Path == "/health" && Interlocked.Increment(ref failed) <= 2)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return Task.CompletedTask;
            }

            passedAfter.TrySetResult();
            return context.Response.WriteAsync("ok");
        };
        await passedAfter.Task.WaitAsync(Deadline, Cancel);

        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("catalog-1"));
        // Nor was it unhealthy for a moment: read once the control plane has stopped (a graceful stop finishes the
        // heartbeats in flight), so that a late line still counts.
        Assert.Equal(0, await controlPlane.Process.StopAsync(TimeSpan.FromSeconds(20)).WaitAsync(Deadline, Cancel));
        Assert.DoesNotContain("Instance catalog-1 is now unhealthy", controlPlane.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_NeitherAppUrlNorCommand_ExitsWithReason()
    {
        await using var process = await TestProcess.StartDotnetAsync("sidecar", SidecarProcess.Assembly, ["--service", "catalog"]);

        Assert.Equal(2, await process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains("give --app-url", process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_InvalidControlPlaneUrl_ExitsNamingTheOption()
    {
        await using var process = await TestProcess.StartDotnetAsync("sidecar", SidecarProcess.Assembly, ["--service", "catalog", "--app-url", "http://127.0.0.1:1", "--control-plane", "nowhere"]);

        Assert.NotEqual(0, await process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains("--control-plane: 'nowhere' is not an absolute http(s) URL.", process.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Catalog")]
    [InlineData("x/../../ns/aspiremesh-system/sa/controlplane")]
    public async Task Start_ServiceNotADnsLabel_ExitsNamingTheRule(string name)
    {
        // The service name is part of the sidecar's mesh identity, which the control plane issues for DNS labels only.
        await using var process = await TestProcess.StartDotnetAsync("sidecar", SidecarProcess.Assembly, ["--service", name, "--app-url", "http://127.0.0.1:1"]);

        Assert.NotEqual(0, await process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains($"--service: '{name}' is not a service name (1-63 lower-case letters", process.Output, StringComparison.Ordinal);
    }
}
