using System.Net.Http.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Hosting.Orchestration;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Hosting.Tests.Orchestration;

/// <summary>The AppHost's resource publisher against a real control plane, including one that starts late or restarts.</summary>
public sealed class ResourcePublisherTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static ResourceStatus Running(string name) => new(name, ResourceKinds.Project, ResourceStates.Running, 0, Environment.ProcessId, [], null, DateTimeOffset.UtcNow);

    private static async Task<ResourceList> ListAsync(ControlPlaneProcess controlPlane) =>
        (await controlPlane.Http.GetFromJsonAsync("v1/resources", MeshJsonContext.Default.ResourceList, Cancel))!;

    private static async Task<IReadOnlyList<string>> LinesAsync(ControlPlaneProcess controlPlane, string resource)
    {
        using var response = await controlPlane.Http.GetAsync($"v1/resources/{resource}/logs", Cancel);
        return response.IsSuccessStatusCode
            ? [.. (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.ResourceLogs, Cancel))!.Lines.Select(l => l.Text)]
            : [];
    }

    [Fact]
    public async Task Publish_ControlPlaneStartsLate_SnapshotAndNewestQueuedLinesArriveOldestDropped()
    {
        var port = Ports.FreeBelowEphemeral();
        await using var publisher = new ResourcePublisher(new Uri($"http://127.0.0.1:{port}/"), ControlPlaneProcess.AdminToken, maxQueuedLines: 100);
        publisher.Start();
        publisher.Update(Running("worker"));
        for (var i = 0; i < 300; i++)
        {
            publisher.Line("worker", $"line {i}", isError: false);
        }

        Assert.Equal(200, publisher.DroppedLines);
        await using var controlPlane = await ControlPlaneProcess.StartWithStateAsync(typeof(ResourcePublisherTests).Assembly, null, null, port);

        await Eventually.UntilAsync(async () => (await LinesAsync(controlPlane, "worker")).Count == 100, Deadline, "the 100 queued lines to arrive");
        Assert.Equal(Enumerable.Range(200, 100).Select(i => $"line {i}"), await LinesAsync(controlPlane, "worker"));
        var worker = Assert.Single((await ListAsync(controlPlane)).Resources);
        Assert.Equal(("worker", ResourceStates.Running, (int?)Environment.ProcessId), (worker.Name, worker.State, worker.Pid));
    }

    [Fact]
    public async Task Publish_ControlPlaneRestarts_ResourcesPublishedAgainAndNewLinesArrive()
    {
        var port = Ports.FreeBelowEphemeral();
        var state = Directory.CreateTempSubdirectory("aspiremesh-publisher-").FullName;
        try
        {
            await using var publisher = new ResourcePublisher(new Uri($"http://127.0.0.1:{port}/"), ControlPlaneProcess.AdminToken, resendInterval: TimeSpan.FromSeconds(1));
            publisher.Start();
            publisher.Update(Running("worker"));
            publisher.Line("worker", "before", isError: false);
            await using (var first = await ControlPlaneProcess.StartWithStateAsync(typeof(ResourcePublisherTests).Assembly, null, state, port))
            {
                await Eventually.UntilAsync(async () => (await LinesAsync(first, "worker")).Contains("before"), Deadline, "the first line to arrive");
            }

            await using var second = await ControlPlaneProcess.StartWithStateAsync(typeof(ResourcePublisherTests).Assembly, null, state, port);
            publisher.Line("worker", "after", isError: true);

            await Eventually.UntilAsync(async () => (await LinesAsync(second, "worker")).Contains("after"), Deadline, "the restarted control plane to get the resources and the new line");
            Assert.Equal("worker", Assert.Single((await ListAsync(second)).Resources).Name);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task Publish_WrongToken_WarnsOnceNamingTheRefusal()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ResourcePublisherTests).Assembly);
        var warnings = new List<string>();
        await using var publisher = new ResourcePublisher(controlPlane.Url, "wrong-token", w => { lock (warnings) { warnings.Add(w); } }, resendInterval: TimeSpan.FromMilliseconds(100));
        publisher.Start();
        publisher.Update(Running("worker"));

        await Eventually.UntilAsync(() => { lock (warnings) { return warnings.Count > 0; } }, Deadline, "the refusal to be reported");
        publisher.Update(Running("worker") with { Restarts = 1 });
        publisher.Line("worker", "more", isError: false);

        Assert.Contains("PUT /v1/resources: 401", Assert.Single(warnings), StringComparison.Ordinal);
        Assert.Empty((await ListAsync(controlPlane)).Resources);
    }

    [Fact]
    public async Task Supervisor_ProcessCrashes_PublishesRestartingWithExitCodeRestartsAndItsOutput()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ResourcePublisherTests).Assembly);
        await using var publisher = new ResourcePublisher(controlPlane.Url, ControlPlaneProcess.AdminToken);
        publisher.Start();
        using var output = new StringWriter();
        var console = new MeshConsole(TextWriter.Synchronized(output), TextWriter.Synchronized(output));
        var supervisor = new ResourceSupervisor(new PlannedResource("worker", ResourceKind.App,
            new ProcessSpec("/bin/sh", ["-c", "echo run; echo oops >&2; exit 3"], new Dictionary<string, string>()), new Uri("http://127.0.0.1:1/"))
        {
            Urls = [new Uri("http://127.0.0.1:5000/")],
        }, console, publisher);

        supervisor.Start();
        try
        {
            await Eventually.UntilAsync(async () => (await ListAsync(controlPlane)).Resources.SingleOrDefault() is { Restarts: >= 1, ExitCode: 3 }, Deadline,
                $"the crash to be published; output: {output}");
            await Eventually.UntilAsync(async () => (await LinesAsync(controlPlane, "worker")).Contains("worker exited unexpectedly with code 3; restarting in 1 s (restart #1)"),
                Deadline, "the crash message in the worker's console lines");
        }
        finally
        {
            await supervisor.StopAsync(TimeSpan.FromSeconds(5));
        }

        var lines = await LinesAsync(controlPlane, "worker");
        Assert.Contains("run", lines);
        Assert.Contains("oops", lines);
        var worker = Assert.Single((await ListAsync(controlPlane)).Resources);
        Assert.Equal((ResourceKinds.Project, "http://127.0.0.1:5000/"), (worker.Kind, Assert.Single(worker.Urls)));
    }

    [Fact]
    public async Task Supervisor_RunningProcess_PublishedRunningWithPidThenExitedOnStop()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ResourcePublisherTests).Assembly);
        await using var publisher = new ResourcePublisher(controlPlane.Url, ControlPlaneProcess.AdminToken);
        publisher.Start();
        using var output = new StringWriter();
        var console = new MeshConsole(TextWriter.Synchronized(output), TextWriter.Synchronized(output));
        var supervisor = new ResourceSupervisor(new PlannedResource("sleeper", ResourceKind.Sidecar,
            new ProcessSpec("/bin/sh", ["-c", "echo up; while true; do sleep 0.1; done"], new Dictionary<string, string>()), new Uri("http://127.0.0.1:1/")), console, publisher);
        supervisor.Start();
        int pid;
        try
        {
            await Eventually.UntilAsync(async () => (await ListAsync(controlPlane)).Resources.SingleOrDefault() is { State: ResourceStates.Running, Pid: not null }, Deadline,
                $"the sleeper to be published Running; output: {output}");
            var running = (await ListAsync(controlPlane)).Resources.Single();
            Assert.Equal(ResourceKinds.Sidecar, running.Kind);
            pid = running.Pid!.Value;
        }
        finally
        {
            await supervisor.StopAsync(TimeSpan.FromSeconds(5));
        }

        Assert.Equal(ResourceStates.Exited, supervisor.Status.State);
        Assert.Null(supervisor.Status.Pid);
        await Eventually.UntilAsync(async () => (await ListAsync(controlPlane)).Resources.Single() is { State: ResourceStates.Exited, Pid: null, Restarts: 0 }, Deadline,
            $"the stop of process {pid} to be published");
    }
}
