using AspireMesh.Contracts.Admin;

namespace AspireMesh.ControlPlane.Telemetry;

/// <summary>
/// Golden metrics (requests per second, success rate, latency percentiles) from two collections of cumulative proxy
/// statistics: per service (what its sidecars received), per edge (what callers saw, source -> destination) and per
/// route. A proxy that restarted in between (a new start time, or counts that went down) counts from zero; one that
/// started in between counts everything; one missing from the earlier collection while it was already running (a
/// missed fetch, or a control plane that restarted and had not collected it yet) is left out of that difference, since
/// its whole history would otherwise show as one burst.
/// </summary>
internal static class GoldenMetricsCalculator
{
    public static MeshStats Compute(IReadOnlyList<StatsCollector.Collection> collections, TimeSpan window)
    {
        if (collections.Count < 2)
        {
            return new MeshStats(collections.LastOrDefault()?.At ?? DateTimeOffset.UtcNow, 0, [], [], [], []);
        }

        var last = collections[^1];
        var first = collections.LastOrDefault(c => c.At <= last.At - window) ?? collections[0];
        var seconds = Math.Max((last.At - first.At).TotalSeconds, 0.001);
        var deltas = Deltas(first, last);
        var buckets = last.Proxies.Values.FirstOrDefault()?.Buckets ?? [];
        var retries = RetryDeltas(first, last);

        var services = Group(deltas.Where(d => d.Series.Direction == "inbound"), d => (d.Series.Destination, "", d.Series.Destination), buckets, seconds, retries);
        var edges = Group(deltas.Where(d => d.Series.Direction is "outbound" or "ingress" && d.Series.Destination.Length > 0),
            d => ($"{d.Series.Source} -> {d.Series.Destination}", d.Series.Source, d.Series.Destination), buckets, seconds, retries);
        var routes = Group(deltas.Where(d => d.Series.Direction is "outbound" or "ingress" && d.Series.Route.Length > 0),
            d => (d.Series.Route, d.Series.Source, d.Series.Destination), buckets, seconds, retries);

        var history = new List<StatsPoint>();
        for (var i = 1; i < collections.Count; i++)
        {
            var span = Math.Max((collections[i].At - collections[i - 1].At).TotalSeconds, 0.001);
            var step = Deltas(collections[i - 1], collections[i]).Where(d => d.Series.Direction == "inbound");
            foreach (var service in Group(step, d => (d.Series.Destination, "", d.Series.Destination), buckets, span, []))
            {
                history.Add(new StatsPoint(collections[i].At, service.Name, service.RequestsPerSecond, service.SuccessRate, service.P99Ms));
            }
        }

        return new MeshStats(last.At, seconds, services, edges, routes, history);
    }

    private sealed record Delta(StatsSeries Series, long Count, long[] Buckets);

    private static List<Delta> Deltas(StatsCollector.Collection from, StatsCollector.Collection to)
    {
        var result = new List<Delta>();
        foreach (var (proxyId, now) in to.Proxies)
        {
            if (!TryBaseline(from, to, proxyId, out var previous))
            {
                continue;
            }

            var before = previous?.Series.ToDictionary(Key, StringComparer.Ordinal);
            foreach (var series in now.Series)
            {
                var old = before?.GetValueOrDefault(Key(series));
                var restarted = old is null || old.Count > series.Count;
                var count = restarted ? series.Count : series.Count - old!.Count;
                if (count <= 0)
                {
                    continue;
                }

                var buckets = series.Buckets.Select((b, i) => restarted ? b : b - old!.Buckets[i]).ToArray();
                result.Add(new Delta(series, count, buckets));
            }
        }

        return result;
    }

    private static Dictionary<(string Source, string Destination), long> RetryDeltas(StatsCollector.Collection from, StatsCollector.Collection to)
    {
        var result = new Dictionary<(string, string), long>();
        foreach (var (proxyId, now) in to.Proxies)
        {
            if (!TryBaseline(from, to, proxyId, out var previous))
            {
                continue;
            }

            var before = previous?.Retries;
            foreach (var retry in now.Retries)
            {
                var old = before?.FirstOrDefault(r => r.Direction == retry.Direction && r.Source == retry.Source && r.Destination == retry.Destination && r.Reason == retry.Reason);
                var count = old is null || old.Count > retry.Count ? retry.Count : retry.Count - old.Count;
                result[(retry.Source, retry.Destination)] = result.GetValueOrDefault((retry.Source, retry.Destination)) + count;
            }
        }

        return result;
    }

    /// <summary>
    /// What a proxy's counts in <paramref name="to"/> are to be compared with: its stats in <paramref name="from"/>, or
    /// null when every count is new (it started, or restarted, since). False when there is no baseline: it was running
    /// at <paramref name="from"/> but not collected then.
    /// </summary>
    private static bool TryBaseline(StatsCollector.Collection from, StatsCollector.Collection to, string proxyId, out ProxyStats? previous)
    {
        var now = to.Proxies[proxyId];
        previous = from.Proxies.GetValueOrDefault(proxyId);
        if (previous is not null)
        {
            if (now.StartedAt is { } started && previous.StartedAt is { } before && started != before)
            {
                previous = null;
            }

            return true;
        }

        // Start times come from the proxy's clock, collection times from the control plane's: on one machine, or
        // synchronized ones, the comparison holds; a proxy that says nothing of its start is counted as before.
        return now.StartedAt is not { } start || start >= from.At;
    }

    private static string Key(StatsSeries s) => $"{s.Direction}|{s.Source}|{s.Destination}|{s.Route}|{s.Code}|{s.MeshError}";

    private static List<GoldenMetrics> Group(IEnumerable<Delta> deltas, Func<Delta, (string Name, string Source, string Destination)> key,
        IReadOnlyList<double> bounds, double seconds, Dictionary<(string Source, string Destination), long> retries) =>
        [.. deltas.GroupBy(key).Select(g =>
        {
            var count = g.Sum(d => d.Count);
            var failed = g.Where(d => d.Series.Code == "5xx" || d.Series.MeshError.Length > 0).Sum(d => d.Count);
            var buckets = new long[bounds.Count];
            foreach (var delta in g)
            {
                for (var i = 0; i < buckets.Length && i < delta.Buckets.Length; i++)
                {
                    buckets[i] += delta.Buckets[i];
                }
            }

            return new GoldenMetrics(g.Key.Name, g.Key.Source, g.Key.Destination, count / seconds, count == 0 ? null : (double)(count - failed) / count,
                Percentile(bounds, buckets, count, 0.50), Percentile(bounds, buckets, count, 0.95), Percentile(bounds, buckets, count, 0.99), count,
                retries.GetValueOrDefault((g.Key.Source, g.Key.Destination)) / seconds);
        }).OrderBy(m => m.Name, StringComparer.Ordinal)];

    /// <summary>The <paramref name="quantile"/> in milliseconds, interpolated linearly within its histogram bucket.</summary>
    internal static double? Percentile(IReadOnlyList<double> bounds, long[] buckets, long count, double quantile)
    {
        if (count == 0 || bounds.Count == 0)
        {
            return null;
        }

        var rank = quantile * count;
        double cumulative = 0;
        for (var i = 0; i < bounds.Count; i++)
        {
            if (cumulative + buckets[i] >= rank && buckets[i] > 0)
            {
                var lower = i == 0 ? 0 : bounds[i - 1];
                return (lower + ((bounds[i] - lower) * ((rank - cumulative) / buckets[i]))) * 1000;
            }

            cumulative += buckets[i];
        }

        // Beyond the last bound: all that is known is that it is at least that.
        return bounds[^1] * 1000;
    }
}
