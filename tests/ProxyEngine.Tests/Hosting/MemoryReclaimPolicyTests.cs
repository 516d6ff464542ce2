using AspireMesh.ProxyEngine.Hosting;

namespace AspireMesh.ProxyEngine.Tests.Hosting;

public sealed class MemoryReclaimPolicyTests
{
    private const double Busy = 200e6;
    private const double Quiet = 5e6;
    private const long Mb = 1024 * 1024;

    [Fact]
    public void LoadFallsToAQuarter_WithMemoryHeld_Reclaims()
    {
        var policy = new MemoryReclaimPolicy();

        Assert.False(policy.ShouldReclaim(Busy, 120 * Mb));
        Assert.True(policy.ShouldReclaim(Busy / MemoryReclaimPolicy.LoadDrop, 120 * Mb));
    }

    [Fact]
    public void SteadyLoad_NeverReclaims()
    {
        var policy = new MemoryReclaimPolicy();

        for (var sample = 0; sample < 50; sample++)
        {
            // The rate wanders, as real load does, but never falls to a quarter of its peak.
            Assert.False(policy.ShouldReclaim(sample % 2 == 0 ? Busy : Busy / 2, 120 * Mb), $"sample {sample}");
        }
    }

    [Fact]
    public void LoadFalls_ButLessThan8MbAboveTheLastReclaim_Keeps()
    {
        var policy = new MemoryReclaimPolicy();
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
        var policy = new MemoryReclaimPolicy();
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
        var policy = new MemoryReclaimPolicy();
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
