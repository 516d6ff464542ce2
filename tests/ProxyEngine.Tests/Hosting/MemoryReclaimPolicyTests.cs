using AspireMesh.ProxyEngine.Hosting;

namespace AspireMesh.ProxyEngine.Tests.Hosting;

public sealed class MemoryReclaimPolicyTests
{
    private const double Busy = 200e6;
    private const double Quiet = 5e6;
    private const long Mb = 1024 * 1024;

    /// <summary>A policy past its start-up reclaim, at <paramref name="floor"/> committed, with the spacing since passed.</summary>
    private static MemoryReclaimPolicy Started(long floor = 20 * Mb)
    {
        var policy = new MemoryReclaimPolicy();
        SkipSpacing(policy, floor);
        Assert.True(policy.ShouldReclaim(Quiet, floor), "the start-up reclaim");
        policy.Reclaimed(Quiet, floor);
        SkipSpacing(policy, floor);
        return policy;
    }

    [Fact]
    public void StartUp_SixSamplesIn_ReclaimsOnceUnderSteadyLoad_ThenNotAgain()
    {
        var policy = new MemoryReclaimPolicy();

        for (var sample = 1; sample < MemoryReclaimPolicy.Spacing; sample++)
        {
            Assert.False(policy.ShouldReclaim(Busy, 60 * Mb), $"sample {sample}");
        }

        // The load has not fallen, but what start-up left is worth a collection.
        Assert.True(policy.ShouldReclaim(Busy, 60 * Mb));
        policy.Reclaimed(Busy, 30 * Mb);
        for (var sample = 0; sample < 50; sample++)
        {
            Assert.False(policy.ShouldReclaim(Busy, 60 * Mb), $"sample {sample} after the start-up reclaim");
        }
    }

    [Fact]
    public void StartUp_IdleWithLittleHeld_StillReclaimsSixSamplesIn_ThenWaitsForAFallOfLoad()
    {
        var policy = new MemoryReclaimPolicy();
        SkipSpacing(policy, 5 * Mb);

        // At a known time, so that every later reclaim is for a fall of load.
        Assert.True(policy.ShouldReclaim(0, 5 * Mb));
        policy.Reclaimed(Quiet, 4 * Mb);
        for (var sample = 0; sample < 20; sample++)
        {
            Assert.False(policy.ShouldReclaim(Quiet, 30 * Mb), $"sample {sample}: traffic began and the heap grew, but no load fell");
        }
    }

    [Fact]
    public void LoadFallsToAQuarter_WithMemoryHeld_Reclaims()
    {
        var policy = Started();

        Assert.False(policy.ShouldReclaim(Busy, 120 * Mb));
        Assert.True(policy.ShouldReclaim(Busy / MemoryReclaimPolicy.LoadDrop, 120 * Mb));
    }

    [Fact]
    public void SteadyLoad_AfterTheStartUpReclaim_NeverReclaims()
    {
        var policy = Started();

        for (var sample = 0; sample < 50; sample++)
        {
            // The rate wanders, as real load does, but never falls to a quarter of its peak.
            Assert.False(policy.ShouldReclaim(sample % 2 == 0 ? Busy : Busy / 2, 120 * Mb), $"sample {sample}");
        }
    }

    [Fact]
    public void LoadFalls_ButLessThan8MbAboveTheLastReclaim_Keeps()
    {
        var policy = Started();
        policy.ShouldReclaim(Busy, 40 * Mb);
        Assert.True(policy.ShouldReclaim(Quiet, 40 * Mb));
        policy.Reclaimed(Quiet, 30 * Mb);
        SkipSpacing(policy, 30 * Mb);

        Assert.False(policy.ShouldReclaim(Busy, 37 * Mb));
        Assert.False(policy.ShouldReclaim(Quiet, 37 * Mb));
        Assert.True(policy.ShouldReclaim(Quiet, 38 * Mb));
    }

    [Fact]
    public void AfterAReclaim_WaitsSixSamples_AndComparesWithTheNewPeak()
    {
        var policy = Started();
        policy.ShouldReclaim(Busy, 100 * Mb);
        Assert.True(policy.ShouldReclaim(Quiet, 100 * Mb));
        policy.Reclaimed(Quiet, 20 * Mb);

        // A second burst right away: its fall is not acted on until the spacing has passed.
        Assert.False(policy.ShouldReclaim(Busy, 100 * Mb));
        for (var sample = 2; sample < MemoryReclaimPolicy.Spacing; sample++)
        {
            Assert.False(policy.ShouldReclaim(Quiet, 100 * Mb), $"sample {sample}");
        }

        Assert.True(policy.ShouldReclaim(Quiet, 100 * Mb));
    }

    [Fact]
    public void QuietSinceTheLastReclaim_RateFromBefore_IsNotThePeakAnyMore()
    {
        var policy = Started();
        policy.ShouldReclaim(Busy, 100 * Mb);
        Assert.True(policy.ShouldReclaim(Quiet, 100 * Mb));
        policy.Reclaimed(Quiet, 20 * Mb);
        Assert.Equal(Busy, policy.LastPeakRate);

        // Steady at the quiet rate afterwards, with the heap grown again: nothing fell, nothing to do.
        for (var sample = 0; sample < 20; sample++)
        {
            Assert.False(policy.ShouldReclaim(Quiet * 2, 40 * Mb), $"sample {sample}");
        }
    }

    private static void SkipSpacing(MemoryReclaimPolicy policy, long committed)
    {
        for (var sample = 1; sample < MemoryReclaimPolicy.Spacing; sample++)
        {
            Assert.False(policy.ShouldReclaim(0, committed));
        }
    }
}
