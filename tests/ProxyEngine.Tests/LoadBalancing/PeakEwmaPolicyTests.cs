using AspireMesh.ProxyEngine.LoadBalancing;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.LoadBalancing;

public sealed class PeakEwmaPolicyTests
{
    private readonly ManualTimeProvider _time = new();
    private readonly PeakEwmaPolicy _policy;

    public PeakEwmaPolicyTests() => _policy = new PeakEwmaPolicy(new MeshRandom(), _time);

    private int Picks(IReadOnlyList<Yarp.ReverseProxy.Model.DestinationState> available, Yarp.ReverseProxy.Model.DestinationState target, int rounds = 1000)
    {
        var (cluster, _) = LoadBalancingPolicyContractTests.Cluster(0);
        var count = 0;
        for (var i = 0; i < rounds; i++)
        {
            count += ReferenceEquals(_policy.PickDestination(new DefaultHttpContext(), cluster, available), target) ? 1 : 0;
        }

        return count;
    }

    [Fact]
    public void Pick_OneEndpointSlower_TheFasterGetsNearlyEverything()
    {
        var (_, all) = LoadBalancingPolicyContractTests.Cluster(2);
        _policy.Observe(all[0], TimeSpan.FromMilliseconds(100));
        _policy.Observe(all[1], TimeSpan.FromMilliseconds(2));

        Assert.True(Picks(all, all[1]) >= 990);
    }

    [Fact]
    public void Pick_OneSlowAmongTen_SlowOneRarelyChosen()
    {
        var (_, all) = LoadBalancingPolicyContractTests.Cluster(10);
        for (var i = 0; i < all.Count; i++)
        {
            _policy.Observe(all[i], TimeSpan.FromMilliseconds(i == 0 ? 500 : 5));
        }

        // With two random choices the slow endpoint only wins when drawn twice, which cannot happen: never.
        Assert.Equal(0, Picks(all, all[0], 2000));
    }

    [Fact]
    public void Pick_RequestsInFlight_RaiseTheCost()
    {
        var (_, all) = LoadBalancingPolicyContractTests.Cluster(2);
        _policy.Observe(all[0], TimeSpan.FromMilliseconds(5));
        _policy.Observe(all[1], TimeSpan.FromMilliseconds(5));
        all[0].ConcurrentRequestCount = 10;

        Assert.Equal(1000, Picks(all, all[1]));
    }

    [Fact]
    public void Pick_NewEndpoint_TriedBeforeObservedOnes()
    {
        var (_, all) = LoadBalancingPolicyContractTests.Cluster(2);
        _policy.Observe(all[0], TimeSpan.FromMilliseconds(5));

        Assert.Equal(1000, Picks(all, all[1]));
    }

    [Fact]
    public void Observe_PeakThenQuiet_DecaysSoTheEndpointIsTriedAgain()
    {
        var (_, all) = LoadBalancingPolicyContractTests.Cluster(2);
        _policy.Observe(all[0], TimeSpan.FromMilliseconds(400));
        _policy.Observe(all[1], TimeSpan.FromMilliseconds(20));
        Assert.Equal(0, Picks(all, all[0]));

        _time.Advance(TimeSpan.FromSeconds(60));
        _policy.Observe(all[1], TimeSpan.FromMilliseconds(20));

        // After a minute the 400 ms peak has decayed below the other endpoint's 20 ms.
        Assert.Equal(1000, Picks(all, all[0]));
    }
}

public sealed class SlowStartTests
{
    private static int Picks(PeakEwmaPolicy policy, Yarp.ReverseProxy.Model.ClusterState cluster, IReadOnlyList<Yarp.ReverseProxy.Model.DestinationState> all, int index)
    {
        var count = 0;
        for (var i = 0; i < 1000; i++)
        {
            count += ReferenceEquals(policy.PickDestination(new DefaultHttpContext(), cluster, all), all[index]) ? 1 : 0;
        }

        return count;
    }

    [Fact]
    public void Pick_NewEndpointWithinWindow_RampsUpToAFullShare()
    {
        var time = new ManualTimeProvider();
        var policy = new PeakEwmaPolicy(new MeshRandom(), time);
        var (cluster, all) = LoadBalancingPolicyContractTests.Cluster(2, new Dictionary<string, string> { [PeakEwmaPolicy.SlowStartMetadata] = "30" });
        _ = Picks(policy, cluster, [all[0]], 0);
        policy.Observe(all[0], TimeSpan.FromMilliseconds(10));
        time.Advance(TimeSpan.FromMinutes(5));
        policy.Observe(all[0], TimeSpan.FromMilliseconds(10));
        policy.Observe(all[1], TimeSpan.FromMilliseconds(10));

        // all[1] is new: it looks 10 times as expensive, so it loses every comparison at first...
        Assert.Equal(0, Picks(policy, cluster, all, 1));

        time.Advance(TimeSpan.FromSeconds(30));
        policy.Observe(all[0], TimeSpan.FromMilliseconds(10));
        policy.Observe(all[1], TimeSpan.FromMilliseconds(10));

        // ...and after the window it is an equal: ties go to whichever was drawn first, about half each.
        Assert.InRange(Picks(policy, cluster, all, 1), 350, 650);
    }
}
