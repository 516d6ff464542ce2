using System.Text.Json;

namespace AspireMesh.ControlPlane.Tests;

/// <summary>The runtime settings built into the control plane's runtimeconfig.json, which every way of running it reads.</summary>
public sealed class RuntimeConfigTests
{
    [Fact]
    public void ThreadPool_IdleWorkersSleepWithoutSpinning()
    {
        var assembly = BuiltProjects.Assembly(typeof(RuntimeConfigTests).Assembly, "ControlPlane.csproj");
        using var config = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(assembly, ".runtimeconfig.json")));

        // The runtime's default (70) has idle workers call sched_yield in a loop after every small piece of work: half
        // a third to a half of a control plane's CPU at rest (docs/control-plane.md, "Performance").
        var options = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.True(options.TryGetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", out var spinLimit), options.GetRawText());
        Assert.Equal(0, spinLimit.GetInt32());
    }
}
