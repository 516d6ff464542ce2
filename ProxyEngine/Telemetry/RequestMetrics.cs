using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>
/// What a proxy measures of every request: a count and a latency histogram per source, destination, route, status
/// class and mesh error, written in the Prometheus text format for the admin /metrics endpoint. Recording is a
/// dictionary lookup and a few interlocked adds, so it stays cheap on the data path.
/// </summary>
public sealed class RequestMetrics
{
    /// <summary>Upper bounds of the latency buckets, in seconds.</summary>
    public static readonly double[] Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly string[] StatusClasses = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];
    private readonly ConcurrentDictionary<Labels, Series> _series = new();

    /// <summary>Records one finished request.</summary>
    public void Record(string direction, string source, string destination, string route, int status, string meshError, TimeSpan duration)
    {
        // No allocation on the data path once a series exists: the status class comes from a table.
        var statusClass = status is >= 0 and < 600 ? StatusClasses[status / 100] : $"{status / 100}xx";
        var series = _series.GetOrAdd(new Labels(direction, source, destination, route, statusClass, meshError), _ => new Series());
        Interlocked.Increment(ref series.Count);
        var seconds = duration.TotalSeconds;
        for (var i = 0; i < Buckets.Length; i++)
        {
            if (seconds <= Buckets[i])
            {
                Interlocked.Increment(ref series.BucketCounts[i]);
                break;
            }
        }

        long ticks;
        long observed;
        do
        {
            observed = Interlocked.Read(ref series.SumTicks);
            ticks = observed + duration.Ticks;
        }
        while (Interlocked.CompareExchange(ref series.SumTicks, ticks, observed) != observed);
    }

    /// <summary>Writes every series in the Prometheus text exposition format (version 0.0.4).</summary>
    public string ToPrometheusText()
    {
        var text = new StringBuilder();
        var snapshot = _series.OrderBy(s => s.Key.ToString(), StringComparer.Ordinal).ToList();
        text.Append("# HELP mesh_requests_total Requests handled by this proxy.\n# TYPE mesh_requests_total counter\n");
        foreach (var (labels, series) in snapshot)
        {
            text.Append("mesh_requests_total{").Append(labels).Append("} ").Append(Interlocked.Read(ref series.Count).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("# HELP mesh_request_duration_seconds Time from request start to response end, as seen by this proxy.\n# TYPE mesh_request_duration_seconds histogram\n");
        foreach (var (labels, series) in snapshot)
        {
            long cumulative = 0;
            for (var i = 0; i < Buckets.Length; i++)
            {
                cumulative += Interlocked.Read(ref series.BucketCounts[i]);
                text.Append("mesh_request_duration_seconds_bucket{").Append(labels).Append(",le=\"").Append(Buckets[i].ToString(CultureInfo.InvariantCulture)).Append("\"} ")
                    .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }

            var count = Interlocked.Read(ref series.Count);
            text.Append("mesh_request_duration_seconds_bucket{").Append(labels).Append(",le=\"+Inf\"} ").Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            text.Append("mesh_request_duration_seconds_sum{").Append(labels).Append("} ")
                .Append(TimeSpan.FromTicks(Interlocked.Read(ref series.SumTicks)).TotalSeconds.ToString("0.######", CultureInfo.InvariantCulture)).Append('\n');
            text.Append("mesh_request_duration_seconds_count{").Append(labels).Append("} ").Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        return text.ToString();
    }

    private readonly record struct Labels(string Direction, string Source, string Destination, string Route, string Code, string MeshError)
    {
        public override string ToString() =>
            $"direction=\"{Escape(Direction)}\",source=\"{Escape(Source)}\",destination=\"{Escape(Destination)}\",route=\"{Escape(Route)}\",code=\"{Code}\",mesh_error=\"{Escape(MeshError)}\"";

        private static string Escape(string value) =>
            value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }

    private sealed class Series
    {
        public long Count;
        public long SumTicks;
        public readonly long[] BucketCounts = new long[Buckets.Length];
    }
}
