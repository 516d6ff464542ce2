namespace AspireMesh.Bench.Tests;

/// <summary><c>bench/Mesh.HeapProbe</c> against real processes.</summary>
public sealed class HeapProbeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string Probe => BuiltProjects.Assembly(typeof(HeapProbeTests).Assembly, "Mesh.HeapProbe.csproj");

    [Fact]
    public async Task Probe_OfARunningDotnetServer_ListsItsLiveObjectsByType()
    {
        // The bench's own upstream: a Kestrel server in another process.
        var (http1, http2) = Ports.TwoFreeBelowEphemeral();
        await using var server = await TestProcess.StartDotnetAsync("upstream", typeof(Mesh.Bench.Upstream).Assembly.Location, ["upstream", $"{http1}", $"{http2}"]);
        await server.WaitForLineAsync("upstream listening on", Deadline);

        await using var probe = await TestProcess.StartDotnetAsync("heap-probe", Probe, [$"{server.Id}", "--top", "100000"]);
        var exitCode = await probe.Exited.WaitAsync(Deadline, Cancel);

        Assert.True(exitCode == 0, probe.Output);
        Assert.Matches(@"live objects: [1-9][0-9]*, [0-9]+\.[0-9]{2} MB", probe.Output);
        Assert.Matches(@"\| System\.String \| [1-9][0-9]* \| [0-9]+\.[0-9] \|", probe.Output);
        // Every type is listed, the server's listening sockets among them.
        Assert.Contains("| Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketConnectionListener |", probe.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_OfAProcessWithoutADiagnosticsPort_ExitsWithOneAndSaysWhy()
    {
        await using var other = await TestProcess.StartAsync("sleep", "sleep", ["120"]);

        await using var probe = await TestProcess.StartDotnetAsync("heap-probe", Probe, [$"{other.Id}"]);
        var exitCode = await probe.Exited.WaitAsync(Deadline, Cancel);

        Assert.True(exitCode == 1, probe.Output);
        Assert.Contains($"process {other.Id} has no diagnostics port", probe.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[0], "give the id of a running .NET process")]
    [InlineData(new[] { "notapid" }, "'notapid' is not one")]
    [InlineData(new[] { "123", "--top", "0" }, "--top N may follow, N a positive number")]
    [InlineData(new[] { "123", "--bottom" }, "--top N may follow")]
    public async Task Probe_WithBadArguments_ExitsWithTwoNamingTheProblem(string[] arguments, string message)
    {
        await using var probe = await TestProcess.StartDotnetAsync("heap-probe", Probe, arguments);
        var exitCode = await probe.Exited.WaitAsync(Deadline, Cancel);

        Assert.True(exitCode == 2, probe.Output);
        Assert.Contains(message, probe.Output, StringComparison.Ordinal);
        Assert.Contains("usage: dotnet run -c Release --project bench/Mesh.HeapProbe", probe.Output, StringComparison.Ordinal);
    }
}
