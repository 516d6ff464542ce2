using System.Buffers;
using System.Runtime.CompilerServices;
using AspireMesh.ProxyEngine.Hosting;

namespace AspireMesh.ProxyEngine.Tests.Hosting;

/// <summary>
/// Runs alone: the shared pool is the whole test process's, and other tests renting and returning the same size
/// meanwhile would change what it holds.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class PooledBuffersTests
{
    private const int Size = 32 * 1024;
    private const int Burst = 48;

    [Fact]
    public void Drain_TakesOutWhatABurstLeftInTheSharedPool_SoTheGcCanFreeIt()
    {
        // What earlier tests left of this size is taken out first, so that the pool has room for the burst's.
        PooledBuffers.Drain();
        var returned = RentAllThenReturn();
        CollectFully();
        var kept = returned.Count(r => r.TryGetTarget(out _));
        // The precondition that makes the test mean something: the pool held on to the burst's buffers.
        Assert.True(kept >= 16, $"the shared pool kept {kept} of the {Burst} buffers returned to it");

        var drained = PooledBuffers.Drain();
        CollectFully();

        var left = returned.Count(r => r.TryGetTarget(out _));
        Assert.True(left == 0, $"{left} of the {kept} buffers the pool kept are still alive after draining it");
        Assert.True(drained >= (long)kept * Size, $"drained {drained} bytes, less than the {kept} x {Size} the pool held");
    }

    /// <summary>A burst: the buffers all rented at once, then all returned. Only weak references stay here.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static List<WeakReference<byte[]>> RentAllThenReturn()
    {
        var rented = Enumerable.Range(0, Burst).Select(_ => ArrayPool<byte>.Shared.Rent(Size)).ToList();
        foreach (var buffer in rented)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return [.. rented.Select(b => new WeakReference<byte[]>(b))];
    }

    private static void CollectFully()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
