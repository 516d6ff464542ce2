using System.Collections.Concurrent;
using AspireMesh.Contracts.Config;

namespace AspireMesh.ProxyEngine.Retries;

/// <summary>
/// Caps retries to a share of requests over a sliding 10 s window, plus a small floor per second, so retries can
/// never multiply an outage (Linkerd's model; its defaults are 20% and 10 per second).
/// </summary>
internal sealed class RetryBudget(double percent, int minRetriesPerSecond, TimeProvider time)
{
    private const int Buckets = 10;
    private readonly Lock _gate = new();
    private readonly long[] _requests = new long[Buckets];
    private readonly long[] _retries = new long[Buckets];
    private long _second = long.MinValue;

    public double Percent { get; } = percent;

    public int MinRetriesPerSecond { get; } = minRetriesPerSecond;

    public void RecordRequest()
    {
        lock (_gate)
        {
            _requests[Advance()]++;
        }
    }

    /// <summary>Spends one retry if the budget allows it.</summary>
    public bool TryRetry()
    {
        lock (_gate)
        {
            var bucket = Advance();
            var allowed = _requests.Sum() * Percent / 100 + MinRetriesPerSecond * Buckets;
            if (_retries.Sum() + 1 > allowed)
            {
                return false;
            }

            _retries[bucket]++;
            return true;
        }
    }

    /// <summary>Whether a retry would be allowed now, without spending it.</summary>
    public bool CanRetry()
    {
        lock (_gate)
        {
            Advance();
            return _retries.Sum() + 1 <= _requests.Sum() * Percent / 100 + MinRetriesPerSecond * Buckets;
        }
    }

    private int Advance()
    {
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        if (_second == long.MinValue)
        {
            _second = now;
        }

        for (; _second < now; _second++)
        {
            var expired = (int)((_second + 1) % Buckets);
            _requests[expired] = 0;
            _retries[expired] = 0;
        }

        return (int)(now % Buckets);
    }
}

/// <summary>One budget per backend service, kept across snapshots while its settings do not change.</summary>
internal sealed class RetryBudgets(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, RetryBudget> _budgets = new(StringComparer.Ordinal);

    public RetryBudget For(string cluster, RetryBudgetConfig? config)
    {
        var percent = config?.Percent ?? 20;
        var floor = config?.MinRetriesPerSecond ?? 10;
        // Called on every request: the lookup must not allocate (AddOrUpdate's closures would) nor write.
        if (_budgets.TryGetValue(cluster, out var current) && current.Percent == percent && current.MinRetriesPerSecond == floor)
        {
            return current;
        }

        return _budgets.AddOrUpdate(cluster,
            _ => new RetryBudget(percent, floor, time),
            (_, existing) => existing.Percent == percent && existing.MinRetriesPerSecond == floor ? existing : new RetryBudget(percent, floor, time));
    }
}
