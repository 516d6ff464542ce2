using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Health;

/// <summary>
/// Outlier detection: an endpoint that fails a number of requests in a row (a transport error or a 5xx answer) is
/// ejected from load balancing for the base ejection time, doubled at each new ejection (capped at 5 minutes), and
/// comes back on its own after that; never more than the configured share of a cluster is ejected at once.
/// </summary>
internal sealed class OutlierDetectionPolicy(IDestinationHealthUpdater health, Telemetry.RequestMetrics metrics, ILogger<OutlierDetectionPolicy> logger) : IPassiveHealthCheckPolicy
{
    public const string PolicyName = "MeshOutlierDetection";
    public const string ConsecutiveFailuresMetadata = "mesh.outlier.consecutiveFailures";
    public const string BaseEjectionMetadata = "mesh.outlier.baseEjectionSeconds";
    public const string MaxEjectionPercentMetadata = "mesh.outlier.maxEjectionPercent";
    private static readonly TimeSpan MaxEjection = TimeSpan.FromMinutes(5);
    private readonly ConditionalWeakTable<DestinationState, Record> _records = [];

    public string Name => PolicyName;

    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
        var failed = context.Features.Get<IForwarderErrorFeature>() is not null || context.Response.StatusCode >= 500;
        var record = _records.GetValue(destination, _ => new Record());
        var metadata = cluster.Model.Config.Metadata;
        var threshold = Read(metadata, ConsecutiveFailuresMetadata, 5);
        int ejections;
        lock (record)
        {
            if (!failed)
            {
                record.ConsecutiveFailures = 0;
                return;
            }

            if (++record.ConsecutiveFailures < threshold)
            {
                return;
            }

            var ejected = cluster.Destinations.Values.Count(d => d.Health.Passive == DestinationHealth.Unhealthy);
            var maxPercent = Read(metadata, MaxEjectionPercentMetadata, 50);
            if ((ejected + 1) * 100 > maxPercent * Math.Max(1, cluster.Destinations.Count))
            {
                return;
            }

            record.ConsecutiveFailures = 0;
            ejections = ++record.Ejections;
        }

        var baseEjection = TimeSpan.FromSeconds(Read(metadata, BaseEjectionMetadata, 30));
        var period = baseEjection * Math.Pow(2, ejections - 1);
        period = period > MaxEjection ? MaxEjection : period;
        ProxyEngineLog.Ejected(logger, destination.DestinationId, cluster.ClusterId, threshold, period.TotalSeconds);
        metrics.RecordEjection(cluster.ClusterId, destination.DestinationId);
        health.SetPassive(cluster, destination, DestinationHealth.Unhealthy, period);
    }

    private static double Read(IReadOnlyDictionary<string, string>? metadata, string key, double fallback) =>
        metadata?.GetValueOrDefault(key) is { } text && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : fallback;

    private sealed class Record
    {
        public int ConsecutiveFailures { get; set; }

        public int Ejections { get; set; }
    }
}
