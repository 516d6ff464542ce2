using AspireMesh.ProxyEngine.LoadBalancing;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Tests.LoadBalancing;

public sealed class ConsistentHashPolicyTests
{
    private static readonly Dictionary<string, string> ByUser = new() { [MeshLoadBalancingPolicies.HashHeaderMetadata] = "x-user" };

    private static HttpContext User(string user)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers["x-user"] = user;
        return context;
    }

    [Fact]
    public void Pick_SameKey_AlwaysSameEndpoint()
    {
        var policy = new ConsistentHashPolicy(new MeshRandom());
        var (cluster, all) = LoadBalancingPolicyContractTests.Cluster(5, ByUser);

        var first = policy.PickDestination(User("alice"), cluster, all);

        for (var i = 0; i < 100; i++)
        {
            Assert.Same(first, policy.PickDestination(User("alice"), cluster, all));
        }
    }

    [Fact]
    public void Pick_ManyKeys_SpreadOverEveryEndpoint()
    {
        var policy = new ConsistentHashPolicy(new MeshRandom());
        var (cluster, all) = LoadBalancingPolicyContractTests.Cluster(10, ByUser);

        var counts = Enumerable.Range(0, 10_000).Select(i => policy.PickDestination(User($"user-{i}"), cluster, all)!.DestinationId)
            .GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(10, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, 600, 1400));
    }

    [Fact]
    public void Pick_EndpointLeaves_OnlyItsKeysMove()
    {
        var policy = new ConsistentHashPolicy(new MeshRandom());
        var (cluster, all) = LoadBalancingPolicyContractTests.Cluster(10, ByUser);
        var before = Enumerable.Range(0, 5000).Select(i => policy.PickDestination(User($"user-{i}"), cluster, all)!).ToList();
        var leaving = all[3];
        var remaining = all.Where(d => d != leaving).ToList();

        var after = Enumerable.Range(0, 5000).Select(i => policy.PickDestination(User($"user-{i}"), cluster, remaining)!).ToList();

        for (var i = 0; i < before.Count; i++)
        {
            if (before[i] != leaving)
            {
                Assert.Same(before[i], after[i]);
            }
        }
    }

    [Fact]
    public void Ring_EndpointJoins_MovesAboutOneInN()
    {
        var ten = new HashRing<string>(Enumerable.Range(1, 10).Select(i => $"d{i}"), id => id);
        var eleven = new HashRing<string>(Enumerable.Range(1, 11).Select(i => $"d{i}"), id => id);

        var moved = Enumerable.Range(0, 10_000).Count(i => ten.Find($"user-{i}", _ => true) != eleven.Find($"user-{i}", _ => true));

        // Ideally 1/11 (9%) of the keys move, all of them to the new endpoint; a modulo hash would move about 91%.
        Assert.InRange(moved, 500, 1500);
        Assert.All(Enumerable.Range(0, 10_000).Where(i => ten.Find($"user-{i}", _ => true) != eleven.Find($"user-{i}", _ => true)),
            i => Assert.Equal("d11", eleven.Find($"user-{i}", _ => true)));
    }

    [Fact]
    public void Pick_NoKey_AnyAvailableEndpoint()
    {
        var policy = new ConsistentHashPolicy(new MeshRandom());
        var (cluster, all) = LoadBalancingPolicyContractTests.Cluster(4, ByUser);

        var chosen = Enumerable.Range(0, 200).Select(_ => policy.PickDestination(new DefaultHttpContext(), cluster, all)).Distinct().ToList();

        Assert.True(chosen.Count > 1);
        Assert.All(chosen, c => Assert.Contains(all, d => ReferenceEquals(d, c)));
    }
}
