using AspireMesh.Mesh.Bench;

namespace AspireMesh.Bench.Tests;

public sealed class ProcessStatsTests
{
    [Fact]
    public void PrivateBytes_OfThisProcess_IsPartOfItsResidentSet()
    {
        var pid = Environment.ProcessId;
        // Touch 32 MB that only this process maps, so the unshared part cannot be rounding.
        var block = GC.AllocateUninitializedArray<byte>(32 * 1024 * 1024);
        Array.Fill(block, (byte)1);

        var unshared = ProcessStats.PrivateBytes(pid);
        var resident = ProcessStats.RssBytes(pid);

        Assert.InRange(unshared, block.Length, resident);
        GC.KeepAlive(block);
    }

    [Fact]
    public void PrivateBytes_OfAProcessThatIsGone_IsZero()
    {
        using var process = System.Diagnostics.Process.Start("true");
        Assert.NotNull(process);
        process.WaitForExit();

        Assert.Equal(0, ProcessStats.PrivateBytes(process.Id));
    }
}
