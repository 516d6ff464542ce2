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
    private readonly ConditionalWeakTable<DestinationState, StrongBox<long>> _firstSeen = [];

    public string Name => MeshLoadBalancingPolicies.PeakEwma;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var count = availableDestinations.Count;
        if (count <= 1)
        {
            if (count == 1 && SlowStart(cluster) > TimeSpan.Zero)
            {
                // Start the lone endpoint's clock, so that when a second one joins, only the newcomer ramps up.
                _firstSeen.GetValue(availableDestinations[0], _ => new StrongBox<long>(time.GetTimestamp()));
            }

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
        var slowStart = SlowStart(cluster);
        return Cost(a, now, slowStart) <= Cost(b, now, slowStart) ? a : b;
    }

    /// <summary>Records how long a request to <paramref name="destination"/> took (a failure counts as a slow answer).</summary>
    public void Observe(DestinationState destination, TimeSpan latency) =>
        _averages.GetValue(destination, _ => new LatencyAverage()).Observe(latency.TotalMilliseconds, time.GetTimestamp(), time);

    private double Cost(DestinationState destination, long now, TimeSpan slowStart)
    {
        var average = _averages.TryGetValue(destination, out var found) ? found.Value(now, time) : 0;
        var cost = (average + 1) * (destination.ConcurrentRequestCount + 1);
        if (slowStart > TimeSpan.Zero)
        {
            // Slow start: an endpoint seen for a fraction f of the window looks 1/f times as expensive (f at least 10%),
            // so a new instance's share ramps up instead of taking a full share while its caches are cold.
            var seen = _firstSeen.GetValue(destination, _ => new StrongBox<long>(now)).Value;
            var ramp = Math.Clamp(time.GetElapsedTime(seen, now) / slowStart, 0.1, 1.0);
            cost /= ramp;
        }

        return cost;
    }

    private static TimeSpan SlowStart(ClusterState cluster) =>
        cluster.Model?.Config.Metadata?.GetValueOrDefault(SlowStartMetadata) is { } text
        && double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(seconds)
            : TimeSpan.Zero;

    /// <summary>Cluster metadata: the slow-start window in seconds.</summary>
    public const string SlowStartMetadata = "mesh.slowStartSeconds";

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
