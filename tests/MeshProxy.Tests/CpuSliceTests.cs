using System.Globalization;
using System.Text.RegularExpressions;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// The sidecar's threads ask Linux's scheduler for a short CPU time slice (<c>--cpu-slice</c>, default 0.2 ms); the
/// application it starts as its child keeps the kernel's default. Read from <c>/proc/&lt;pid&gt;/task/&lt;tid&gt;/sched</c>.
/// </summary>
public sealed partial class CpuSliceTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Default_EverySidecarThreadHasTheShortSlice_ItsChildKeepsTheKernelDefault()
    {
        SkipWithoutCustomSlices();
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CpuSliceTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-slice", null,
            "--", "/bin/sh", "-c", "echo \"child pid=$$\"; exec sleep 600");
        var child = int.Parse((await sidecar.Process.WaitForLineAsync(@"^child pid=(\d+)$", Deadline)).Groups[1].Value, CultureInfo.InvariantCulture);

        // The thread that started the child gives itself, and any thread the runtime started meanwhile, the slice back
        // right after the start: wait for that rather than race it.
        await Eventually.UntilAsync(() => ThreadSlices(sidecar.Process.Id).Values.All(slice => slice == 200_000), Deadline,
            "every thread of the sidecar to have a 0.2 ms slice");
        Assert.True(ThreadSlices(sidecar.Process.Id).Count > 5, "the sidecar runs several threads");
        await sidecar.Process.WaitForLineAsync(Regex.Escape("CPU time slice of the sidecar's threads: 0.2 ms"), Deadline);
        Assert.Equal(KernelDefault(), Assert.Single(ThreadSlices(child)).Value);
    }

    [Fact]
    public async Task Zero_SidecarThreadsKeepTheKernelDefault()
    {
        SkipWithoutCustomSlices();
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CpuSliceTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-slice", Ports.ClosedUrl(), "--cpu-slice", "0");

        var slices = ThreadSlices(sidecar.Process.Id);
        Assert.All(slices, slice => Assert.Equal(KernelDefault(), slice.Value));
        await sidecar.Process.WaitForLineAsync(Regex.Escape("CPU time slice of the sidecar's threads: the kernel's default (--cpu-slice 0)"), Deadline);
    }

    [Theory]
    [InlineData("50")]
    [InlineData("100001")]
    [InlineData("-1")]
    public async Task OutOfRange_RefusedNamingTheRange(string value)
    {
        await using var process = await TestProcess.StartAsync("sidecar", "dotnet",
            [SidecarProcess.Assembly, "--service", "catalog", "--app-url", "http://127.0.0.1:1", "--cpu-slice", value]);

        Assert.NotEqual(0, await process.Exited.WaitAsync(Deadline, TestContext.Current.CancellationToken));
        Assert.Contains($"--cpu-slice: {value} is outside 100-100000 microseconds", process.Output + process.ErrorOutput, StringComparison.Ordinal);
    }

    /// <summary>Custom slices exist from Linux 6.12 (EEVDF); before, the kernel keeps its own and the sidecar says so.</summary>
    private static void SkipWithoutCustomSlices() =>
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.OSVersion.Version >= new Version(6, 12), $"custom CPU slices need Linux 6.12 or later (this is {Environment.OSVersion})");

    /// <summary>This test process never sets a slice: its main thread has the kernel's default.</summary>
    private static long KernelDefault() => Slice(File.ReadAllText($"/proc/{Environment.ProcessId}/sched"));

    private static Dictionary<int, long> ThreadSlices(int pid)
    {
        var slices = new Dictionary<int, long>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                slices[int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)] = Slice(File.ReadAllText(Path.Combine(task, "sched")));
            }
            catch (IOException)
            {
                // The thread exited while the list was read.
            }
        }

        return slices;
    }

    private static long Slice(string sched) => long.Parse(SliceLine().Match(sched).Groups[1].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^se\.slice\s*:\s*(\d+)", RegexOptions.Multiline)]
    private static partial Regex SliceLine();
}
