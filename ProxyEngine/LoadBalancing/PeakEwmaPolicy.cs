using System.Runtime.CompilerServices;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.LoadBalancing;

/// <summary>
/// Power of two choices weighted by latency: two endpoints are drawn at random and the one with the lower cost wins,
/// cost = peak-sensitive moving average of its latency × (its requests in flight + 1). A latency above the average
/// replaces it at once (peak), a lower one pulls it down smoothly; an endpoint not used for a while decays toward
/// zero and gets tried again. This is the model of Finagle's and Linkerd's default balancer.
/// </summary>
internal sealed class PeakEwmaPolicy(MeshRandom random, TimeProvider time) : ILoadBalancingPolicy
{
    /// <summary>Time constant of the moving average.</summary>
    private static readonly TimeSpan Decay = TimeSpan.FromSeconds(10);
    private readonly ConditionalWeakTable<DestinationState, LatencyAverage> _averages = [];

    public string Name => MeshLoadBalancingPolicies.PeakEwma;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var count = availableDestinations.Count;
        if (count <= 1)
        {
            return count == 0 ? null : availableDestinations[0];
        }

        var first = (int)(random.NextDouble() * count) % count;
        var second = (int)(random.NextDouble() * (count - 1)) % (count - 1);
        if (second >= first)
        {
            second++;
        }

        var a = availableDestinations[first];
        var b = availableDestinations[second];
        var now = time.GetTimestamp();
        return Cost(a, now) <= Cost(b, now) ? a : b;
    }

    /// <summary>Records how long a request to <paramref name="destination"/> took (a failure counts as a slow answer).</summary>
    public void Observe(DestinationState destination, TimeSpan latency) =>
        _averages.GetValue(destination, _ => new LatencyAverage()).Observe(latency.TotalMilliseconds, time.GetTimestamp(), time);

    private double Cost(DestinationState destination, long now)
    {
        var average = _averages.TryGetValue(destination, out var found) ? found.Value(now, time) : 0;
        return (average + 1) * (destination.ConcurrentRequestCount + 1);
    }

    private sealed class LatencyAverage
    {
        private readonly Lock _gate = new();
        private double _value;
        private long _stamp;

        public void Observe(double milliseconds, long now, TimeProvider time)
        {
            lock (_gate)
            {
                var current = Decayed(now, time);
                _value = milliseconds > current ? milliseconds : current + ((milliseconds - current) * Weight(now, time));
                _stamp = now;
            }
        }

        public double Value(long now, TimeProvider time)
        {
            lock (_gate)
            {
                return Decayed(now, time);
            }
        }

        private double Decayed(long now, TimeProvider time) =>
            _stamp == 0 ? 0 : _value * Math.Exp(-time.GetElapsedTime(_stamp, now).TotalSeconds / Decay.TotalSeconds);

        private double Weight(long now, TimeProvider time) =>
            _stamp == 0 ? 1 : 1 - Math.Exp(-time.GetElapsedTime(_stamp, now).TotalSeconds / Decay.TotalSeconds);
    }
}

/// <summary>Feeds <see cref="PeakEwmaPolicy"/>: times each forwarded attempt against the endpoint it went to.</summary>
internal sealed class LatencyObserverMiddleware(RequestDelegate next, PeakEwmaPolicy policy, TimeProvider time)
{
    private static readonly TimeSpan FailurePenalty = TimeSpan.FromSeconds(1);

    public async Task InvokeAsync(HttpContext context)
    {
        var started = time.GetTimestamp();
        await next(context).ConfigureAwait(false);
        if (context.GetReverseProxyFeature().ProxiedDestination is { } destination)
        {
            var failed = context.Features.Get<Yarp.ReverseProxy.Forwarder.IForwarderErrorFeature>() is not null;
            var elapsed = time.GetElapsedTime(started);
            policy.Observe(destination, failed && elapsed < FailurePenalty ? FailurePenalty : elapsed);
        }
    }
}
