using AspireMesh.Hosting.Processes;

namespace AspireMesh.Hosting.Tests.Processes;

public sealed class ManagedProcessTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StopAsync_ProcessHandlesSigterm_StopsGracefully()
    {
        await using var process = await TestProcess.StartAsync("sh", "/bin/sh",
            ["-c", "trap 'echo got-term; exit 7' TERM; echo started; while true; do sleep 0.1; done"]);
        await process.WaitForLineAsync("^started$", TimeSpan.FromSeconds(30));

        var code = await process.StopAsync(TimeSpan.FromSeconds(20)).WaitAsync(TimeSpan.FromSeconds(30), Cancel);

        Assert.Equal(7, code);
        Assert.Contains("got-term", process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StopAsync_ProcessIgnoresSigterm_KilledAfterGracePeriod()
    {
        await using var process = await TestProcess.StartAsync("sh", "/bin/sh",
            ["-c", "trap '' TERM; echo started; while true; do sleep 0.1; done"]);
        await process.WaitForLineAsync("^started$", TimeSpan.FromSeconds(30));

        var code = await process.StopAsync(TimeSpan.FromMilliseconds(300)).WaitAsync(TimeSpan.FromSeconds(30), Cancel);

        Assert.Equal(137, code);
    }

    [Fact]
    public async Task StartAsync_Output_DeliveredLineByLineWithStreams()
    {
        var lines = new List<(string, bool)>();
        await using var process = await ManagedProcess.StartAsync(new ProcessSpec("/bin/sh", ["-c", "echo out; echo err >&2"], new Dictionary<string, string>()),
            (line, isError) => { lock (lines) { lines.Add((line, isError)); } });

        Assert.Equal(0, await process.Exited.WaitAsync(TimeSpan.FromSeconds(30), Cancel));
        lock (lines)
        {
            Assert.Equal([("err", true), ("out", false)], lines.OrderBy(l => l.Item1));
        }
    }

    [Fact]
    public async Task StartAsync_Environment_AddedToInherited()
    {
        await using var process = await TestProcess.StartAsync("sh", "/bin/sh", ["-c", "echo \"value=$MESH_TEST_VALUE path=${PATH:+set}\""],
            new Dictionary<string, string> { ["MESH_TEST_VALUE"] = "42" });

        await process.WaitForLineAsync("^value=42 path=set$", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task StartAsync_Withheld_NotInheritedUnlessGivenAgain()
    {
        // HOME and PATH are in every test run's environment: HOME is withheld, PATH withheld and given again.
        var lines = new List<string>();
        await using var process = await ManagedProcess.StartAsync(
            new ProcessSpec("/bin/sh", ["-c", "echo \"home=${HOME-unset} path=$PATH\""], new Dictionary<string, string> { ["PATH"] = "/bin" },
                Withheld: ["HOME", "PATH"]),
            (line, _) => { lock (lines) { lines.Add(line); } });

        Assert.False(string.IsNullOrEmpty(Environment.GetEnvironmentVariable("HOME")));
        Assert.Equal(0, await process.Exited.WaitAsync(TimeSpan.FromSeconds(30), Cancel));
        lock (lines)
        {
            Assert.Equal(["home=unset path=/bin"], lines);
        }
    }

    [Fact]
    public async Task StartAsync_MissingCommand_ExitsNonZeroNamingTheCommand()
    {
        Assert.True(ChildProcessLauncher.TiesChildrenToParent, "this Linux machine should have setpriv (util-linux)");
        await using var process = await TestProcess.StartAsync("missing", "/nonexistent/aspiremesh-tool", []);

        Assert.Equal(127, await process.Exited.WaitAsync(TimeSpan.FromSeconds(30), Cancel));
        Assert.Contains("/nonexistent/aspiremesh-tool", process.Output, StringComparison.Ordinal);
    }
}
