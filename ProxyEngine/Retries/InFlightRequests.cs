using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace AspireMesh.ProxyEngine.Retries;

/// <summary>
/// Requests in flight to each cluster that a capacity bounds: those the circuit breaker admitted
/// (<see cref="CircuitBreakerMiddleware"/>) and the mirrored copies sent to it (<see cref="Routing.RequestMirror"/>),
/// counted together, as Envoy counts shadow requests against the shadow cluster's circuit breakers.
/// </summary>
internal sealed class InFlightRequests
{
    private readonly ConcurrentDictionary<string, StrongBox<int>> _clusters = new(StringComparer.Ordinal);

    /// <summary>Takes a place for one request to <paramref name="cluster"/> if fewer than <paramref name="capacity"/> are in flight.</summary>
    public bool TryEnter(string cluster, int capacity)
    {
        var counter = _clusters.GetOrAdd(cluster, static _ => new StrongBox<int>());
        if (Interlocked.Increment(ref counter.Value) <= capacity)
        {
            return true;
        }

        Interlocked.Decrement(ref counter.Value);
        return false;
    }

    /// <summary>Gives back a place <see cref="TryEnter"/> took.</summary>
    public void Exit(string cluster)
    {
        if (_clusters.TryGetValue(cluster, out var counter))
        {
            Interlocked.Decrement(ref counter.Value);
        }
    }
}
