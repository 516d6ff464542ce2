using AspireMesh.Hosting.Orchestration;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Hosting.Tests.Orchestration;

public sealed class ResourceSupervisorTests
{
    private readonly StringWriter _output = new();
    private readonly MeshConsole _console;

    public ResourceSupervisorTests() => _console = new MeshConsole(TextWriter.Synchronized(_output), TextWriter.Synchronized(_output));

    private string Output => _output.ToString();

    private static PlannedResource Resource(string script) =>
        new("worker", ResourceKind.App, new ProcessSpec("/bin/sh", ["-c", script], new Dictionary<string, string>()), new Uri("http://127.0.0.1:1/"));

    [Fact]
    public async Task Start_ProcessCrashes_CrashShownAndRestartedWithBackoff()
    {
        var supervisor = new ResourceSupervisor(Resource("echo run; exit 3"), _console);
        _console.Reserve(["worker"]);

        supervisor.Start();
        await Eventually.UntilAsync(() => Output.Split('\n').Count(l => l.EndsWith("| run", StringComparison.Ordinal)) >= 2, TimeSpan.FromSeconds(30), "the worker to run twice");
        await supervisor.StopAsync(TimeSpan.FromSeconds(5));

        Assert.Contains("worker exited unexpectedly with code 3; restarting in 1 s (restart #1)", Output, StringComparison.Ordinal);
        Assert.True(supervisor.Restarts >= 1);
    }

    [Fact]
    public async Task StopAsync_RunningProcess_StoppedAndNotRestarted()
    {
        var supervisor = new ResourceSupervisor(Resource("echo up; while true; do sleep 0.1; done"), _console);
        _console.Reserve(["worker"]);
        supervisor.Start();
        await Eventually.UntilAsync(() => Output.Contains("| up", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the worker to start");

        await supervisor.StopAsync(TimeSpan.FromSeconds(5));

        Assert.Contains("worker stopped (exit code", Output, StringComparison.Ordinal);
        Assert.DoesNotContain("unexpectedly", Output, StringComparison.Ordinal);
        Assert.Equal(0, supervisor.Restarts);
    }

    [Fact]
    public async Task BeginStop_ProcessExitsOnItsOwnAfterwards_NotTreatedAsCrash()
    {
        // Models Ctrl+C: the terminal signals the whole group, so a child may exit on its own after the stop began.
        var release = Path.Combine(Path.GetTempPath(), $"aspiremesh-release-{Guid.NewGuid():N}");
        var supervisor = new ResourceSupervisor(Resource($"echo up; while [ ! -f {release} ]; do sleep 0.05; done; echo leaving; exit 0"), _console);
        _console.Reserve(["worker"]);
        supervisor.Start();
        await Eventually.UntilAsync(() => Output.Contains("| up", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the worker to start");

        supervisor.BeginStop();
        await File.WriteAllTextAsync(release, "", TestContext.Current.CancellationToken);
        await Eventually.UntilAsync(() => Output.Contains("| leaving", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the worker to exit on its own");
        await supervisor.StopAsync(TimeSpan.FromSeconds(5));
        File.Delete(release);

        Assert.DoesNotContain("unexpectedly", Output, StringComparison.Ordinal);
        Assert.Equal(0, supervisor.Restarts);
    }
}
