using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.LoadBalancing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Tests.LoadBalancing;

/// <summary>What every load-balancing policy must do; each policy runs this suite (as runtime's rate limiters do).</summary>
public abstract class LoadBalancingPolicyContractTests
{
    private readonly ServiceProvider _services;

    protected LoadBalancingPolicyContractTests()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMeshProxyEngine(new ProxyEngineOptions { Kind = ProxyKinds.Gateway, Name = "g", ProxyId = "g", ControlPlane = new Uri("http://127.0.0.1:1/") }, new ProxyStatus());
        _services = services.BuildServiceProvider();
        Policy = _services.GetServices<ILoadBalancingPolicy>().Single(p => p.Name == PolicyName);
    }

    /// <summary>The policy's name as clusters select it.</summary>
    protected abstract string PolicyName { get; }

    protected ILoadBalancingPolicy Policy { get; }

    internal static (ClusterState Cluster, List<DestinationState> All) Cluster(int count, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var all = Enumerable.Range(1, count).Select(i => new DestinationState($"d{i}")).ToList();
        var cluster = new ClusterState("c", new ClusterModel(new ClusterConfig { ClusterId = "c", Metadata = metadata }, new HttpMessageInvoker(new SocketsHttpHandler())));
        cluster.DestinationsState = new ClusterDestinationsState(all, all);
        return (cluster, all);
    }

    protected virtual HttpContext Request(int i) => new DefaultHttpContext();

    [Fact]
    public void Pick_NoAvailableDestination_Null()
    {
        var (cluster, _) = Cluster(3);

        Assert.Null(Policy.PickDestination(Request(0), cluster, []));
    }

    [Fact]
    public void Pick_OneAvailable_ThatOne()
    {
        var (cluster, all) = Cluster(3);

        Assert.Same(all[1], Policy.PickDestination(Request(0), cluster, [all[1]]));
    }

    [Fact]
    public void Pick_SomeAvailable_NeverAnUnavailableOne()
    {
        var (cluster, all) = Cluster(8);
        var available = all.Where((_, i) => i % 3 != 0).ToList();

        for (var i = 0; i < 2000; i++)
        {
            // By reference: YARP's DestinationState is also a one-item list of itself, which equality assertions would recurse into.
            var chosen = Policy.PickDestination(Request(i), cluster, available);
            Assert.Contains(available, d => ReferenceEquals(d, chosen));
        }
    }

    [Fact]
    public void Pick_ManyThreadsAtOnce_AlwaysAValidChoice()
    {
        var (cluster, all) = Cluster(5);
        var invalid = 0;

        Parallel.For(0, 20_000, i =>
        {
            if (Policy.PickDestination(Request(i), cluster, all) is not { } chosen || !all.Any(d => ReferenceEquals(d, chosen)))
            {
                Interlocked.Increment(ref invalid);
            }
        });

        Assert.Equal(0, invalid);
    }
}

public sealed class RoundRobinContractTests : LoadBalancingPolicyContractTests
{
    protected override string PolicyName => LoadBalancingPolicies.RoundRobin;
}

public sealed class LeastRequestContractTests : LoadBalancingPolicyContractTests
{
    protected override string PolicyName => LoadBalancingPolicies.LeastRequests;
}

public sealed class PeakEwmaContractTests : LoadBalancingPolicyContractTests
{
    protected override string PolicyName => MeshLoadBalancingPolicies.PeakEwma;
}

public sealed class ConsistentHashContractTests : LoadBalancingPolicyContractTests
{
    protected override string PolicyName => MeshLoadBalancingPolicies.ConsistentHash;

    protected override HttpContext Request(int i)
    {
        var context = new DefaultHttpContext();
        if (i % 4 != 0)
        {
            context.Request.Headers["x-user"] = $"user-{i % 97}";
        }

        return context;
    }
}
