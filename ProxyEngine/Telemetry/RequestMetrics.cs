using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using AspireMesh.Contracts.Admin;
using Microsoft.Extensions.DependencyInjection;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>
/// What a proxy measures of every request: a count and a latency histogram per source, destination, route, status
/// class and mesh error, written in the Prometheus text format for the admin /metrics endpoint. Recording is a
/// dictionary lookup and a few interlocked adds, so it stays cheap on the data path.
/// </summary>
public sealed class RequestMetrics : IDisposable
{
    /// <summary>Name of the meter that mirrors these measurements for OpenTelemetry (OTLP) export.</summary>
    public const string MeterName = "AspireMesh.Proxy";

    /// <summary>Upper bounds of the latency buckets, in seconds.</summary>
    public static readonly double[] Buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly string[] StatusClasses = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];
    private readonly ConcurrentDictionary<Labels, Series> _series = new();
    private readonly ConcurrentDictionary<(string Direction, string Source, string Destination, string Reason), Counter> _retries = new();
    private readonly ConcurrentDictionary<(string Destination, string Endpoint), Counter> _ejections = new();
    private readonly ConcurrentDictionary<(string Source, string Destination, string Policy), Counter> _auditDenials = new();
    private readonly ConcurrentDictionary<(string Listener, string Reason), Counter> _tlsRefusals = new();
    private readonly ConcurrentDictionary<string, Counter> _mirrorDrops = new(StringComparer.Ordinal);
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _requestsInstrument;
    private readonly Histogram<double> _durationInstrument;
    private readonly Counter<long> _requestBytesInstrument;
    private readonly Counter<long> _responseBytesInstrument;
    private readonly Counter<long> _retriesInstrument;
    private readonly Counter<long> _ejectionsInstrument;
    private readonly Counter<long> _auditDenialsInstrument;
    private readonly Counter<long> _tlsRefusalsInstrument;
    private readonly Counter<long> _mirrorDropsInstrument;
    private readonly MeterListener _connections = new();
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;
    private long _downstreamConnections;
    private long _upstreamConnections;
    private readonly Lock _countedGate = new();
    private volatile object[] _countedListeners = [];

    /// <summary>Creates the metrics, their OpenTelemetry instruments, and the listener that counts open connections.</summary>
    public RequestMetrics()
    {
        _requestsInstrument = _meter.CreateCounter<long>("mesh.requests", "{request}", "Requests handled by this proxy.");
        _durationInstrument = _meter.CreateHistogram<double>("mesh.request.duration", "s", "Time from request start to response end, as seen by this proxy.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });
        _requestBytesInstrument = _meter.CreateCounter<long>("mesh.request.body.size", "By", "Request body bytes received.");
        _responseBytesInstrument = _meter.CreateCounter<long>("mesh.response.body.size", "By", "Response body bytes sent.");
        _retriesInstrument = _meter.CreateCounter<long>("mesh.retries", "{retry}", "Attempts retried, by reason.");
        _ejectionsInstrument = _meter.CreateCounter<long>("mesh.ejections", "{ejection}", "Endpoints ejected by outlier detection.");
        _auditDenialsInstrument = _meter.CreateCounter<long>("mesh.authz.audit_denials", "{request}", "Requests an authorization policy in Audit mode would have denied (they were let through).");
        _tlsRefusalsInstrument = _meter.CreateCounter<long>("mesh.tls.refusals", "{connection}", "TLS handshakes refused, by listener (inbound, telemetry) and reason (no client certificate, a certificate not of this mesh, other handshake failures).");
        _mirrorDropsInstrument = _meter.CreateCounter<long>("mesh.mirror.dropped", "{request}", "Copies of requests not sent to a mirror service because as many as it may take were already in flight.");
        _meter.CreateObservableUpDownCounter("mesh.connections.open", () => new[]
        {
            new Measurement<long>(Interlocked.Read(ref _downstreamConnections), new KeyValuePair<string, object?>("side", "downstream")),
            new Measurement<long>(Interlocked.Read(ref _upstreamConnections), new KeyValuePair<string, object?>("side", "upstream")),
        }, "{connection}", "Open connections: downstream (clients to this proxy's traffic listeners) and upstream (this proxy to endpoints and its app).");

        // Kestrel and HttpClient count their connections themselves; listen to those instruments instead of wrapping sockets.
        _connections.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument is { Meter.Name: "Microsoft.AspNetCore.Server.Kestrel", Name: "kestrel.active_connections" }
                or { Meter.Name: "System.Net.Http", Name: "http.client.open_connections" })
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _connections.SetMeasurementEventCallback<long>((instrument, delta, _, _) =>
        {
            if (instrument.Name != "kestrel.active_connections")
            {
                Interlocked.Add(ref _upstreamConnections, delta);
            }
            else if (Array.IndexOf(_countedListeners, instrument.Meter.Scope) >= 0)
            {
                // Every listener's Kestrel has its own meter, scoped to its host's meter factory; only the traffic
                // listeners count (not the admin one that scrapers and the control plane poll, nor other servers in
                // the process).
                Interlocked.Add(ref _downstreamConnections, delta);
            }
        });
        _connections.Start();
    }

    /// <summary>
    /// Counts the connections clients open to the listener whose services these are (<see cref="DownstreamConnections"/>);
    /// call it before the listener starts.
    /// </summary>
    public void CountConnectionsOf(IServiceProvider listenerServices)
    {
        ArgumentNullException.ThrowIfNull(listenerServices);
        var scope = listenerServices.GetRequiredService<IMeterFactory>();
        lock (_countedGate)
        {
            if (Array.IndexOf(_countedListeners, scope) < 0)
            {
                _countedListeners = [.. _countedListeners, scope];
            }
        }
    }

    /// <summary>Open connections from clients to this proxy's traffic listeners (those passed to <see cref="CountConnectionsOf"/>).</summary>
    public long DownstreamConnections => Interlocked.Read(ref _downstreamConnections);

    /// <summary>Open connections from this proxy to endpoints (and, for a sidecar, its app).</summary>
    public long UpstreamConnections => Interlocked.Read(ref _upstreamConnections);

    /// <summary>Records one finished request.</summary>
    public void Record(string direction, string source, string destination, string route, int status, string meshError, TimeSpan duration) =>
        Record(direction, source, destination, route, status, meshError, duration, 0, 0);

    /// <summary>Records one finished request with its body sizes.</summary>
    public void Record(string direction, string source, string destination, string route, int status, string meshError, TimeSpan duration,
        long requestBytes, long responseBytes)
    {
        // No allocation on the data path once a series exists: the status class comes from a table.
        var statusClass = status is >= 0 and < 600 ? StatusClasses[status / 100] : $"{status / 100}xx";
        var series = _series.GetOrAdd(new Labels(direction, source, destination, route, statusClass, meshError), _ => new Series());
        Interlocked.Increment(ref series.Count);
        Interlocked.Add(ref series.RequestBytes, requestBytes);
        Interlocked.Add(ref series.ResponseBytes, responseBytes);
        if (_requestsInstrument.Enabled || _durationInstrument.Enabled)
        {
            var tags = new TagList
            {
                { "mesh.direction", direction }, { "mesh.source", source }, { "mesh.destination", destination },
                { "mesh.route", route }, { "http.response.status_class", statusClass }, { "mesh.error", meshError },
            };
            _requestsInstrument.Add(1, tags);
            _durationInstrument.Record(duration.TotalSeconds, tags);
            _requestBytesInstrument.Add(requestBytes, tags);
            _responseBytesInstrument.Add(responseBytes, tags);
        }

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

    /// <summary>Records an attempt retried by a proxy, with the reason of the failure that caused it.</summary>
    public void RecordRetry(string direction, string source, string destination, string reason)
    {
        Interlocked.Increment(ref _retries.GetOrAdd((direction, source, destination, reason), _ => new Counter()).Value);
        _retriesInstrument.Add(1, new TagList { { "mesh.direction", direction }, { "mesh.source", source }, { "mesh.destination", destination }, { "mesh.retry.reason", reason } });
    }

    /// <summary>Records an endpoint ejected by outlier detection.</summary>
    public void RecordEjection(string destination, string endpoint)
    {
        Interlocked.Increment(ref _ejections.GetOrAdd((destination, endpoint), _ => new Counter()).Value);
        _ejectionsInstrument.Add(1, new TagList { { "mesh.destination", destination }, { "mesh.endpoint", endpoint } });
    }

    /// <summary>Records a request that an audited authorization policy would have denied, and that was let through.</summary>
    public void RecordAuditDenial(string source, string destination, string policy)
    {
        Interlocked.Increment(ref _auditDenials.GetOrAdd((source, destination, policy), _ => new Counter()).Value);
        _auditDenialsInstrument.Add(1, new TagList { { "mesh.source", source }, { "mesh.destination", destination }, { "mesh.authz.policy", policy } });
    }

    /// <summary>
    /// Records a TLS handshake refused on <paramref name="listener"/> (see <see cref="Security.TlsListeners"/>), with its
    /// reason (see <see cref="Security.TlsRefusals"/>).
    /// </summary>
    public void RecordTlsRefusal(string listener, string reason)
    {
        Interlocked.Increment(ref _tlsRefusals.GetOrAdd((listener, reason), _ => new Counter()).Value);
        _tlsRefusalsInstrument.Add(1, new KeyValuePair<string, object?>("mesh.tls.listener", listener), new KeyValuePair<string, object?>("mesh.tls.refusal_reason", reason));
    }

    /// <summary>Records a copy of a request dropped because <paramref name="mirror"/> had as many in flight as it may take.</summary>
    public void RecordMirrorDropped(string mirror)
    {
        Interlocked.Increment(ref _mirrorDrops.GetOrAdd(mirror, static _ => new Counter()).Value);
        _mirrorDropsInstrument.Add(1, new KeyValuePair<string, object?>("mesh.mirror", mirror));
    }

    /// <summary>Every request series, cumulative since the proxy started: what the control plane's dashboard and CLI compute rates from.</summary>
    public ProxyStats Snapshot(string proxyId) => new(proxyId, DateTimeOffset.UtcNow, Buckets,
        [.. _series.Select(s => new StatsSeries(s.Key.Direction, s.Key.Source, s.Key.Destination, s.Key.Route, s.Key.Code, s.Key.MeshError,
            Interlocked.Read(ref s.Value.Count), [.. Enumerable.Range(0, Buckets.Length).Select(i => Interlocked.Read(ref s.Value.BucketCounts[i]))],
            TimeSpan.FromTicks(Interlocked.Read(ref s.Value.SumTicks)).TotalSeconds,
            Interlocked.Read(ref s.Value.RequestBytes), Interlocked.Read(ref s.Value.ResponseBytes)))],
        [.. _retries.Select(r => new RetryStats(r.Key.Direction, r.Key.Source, r.Key.Destination, r.Key.Reason, Interlocked.Read(ref r.Value.Value)))],
        [.. _ejections.Select(e => new EjectionStats(e.Key.Destination, e.Key.Endpoint, Interlocked.Read(ref e.Value.Value)))],
        DownstreamConnections, UpstreamConnections) { StartedAt = _startedAt };

    /// <inheritdoc />
    public void Dispose()
    {
        _connections.Dispose();
        _meter.Dispose();
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

        text.Append("# HELP mesh_request_bytes_total Request body bytes received.\n# TYPE mesh_request_bytes_total counter\n");
        foreach (var (labels, series) in snapshot)
        {
            text.Append("mesh_request_bytes_total{").Append(labels).Append("} ").Append(Interlocked.Read(ref series.RequestBytes).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("# HELP mesh_response_bytes_total Response body bytes sent.\n# TYPE mesh_response_bytes_total counter\n");
        foreach (var (labels, series) in snapshot)
        {
            text.Append("mesh_response_bytes_total{").Append(labels).Append("} ").Append(Interlocked.Read(ref series.ResponseBytes).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("# HELP mesh_retries_total Attempts retried, by the reason of the failure.\n# TYPE mesh_retries_total counter\n");
        foreach (var ((direction, source, destination, reason), counter) in _retries.OrderBy(r => r.Key.ToString(), StringComparer.Ordinal))
        {
            text.Append("mesh_retries_total{direction=\"").Append(Labels.Escape(direction)).Append("\",source=\"").Append(Labels.Escape(source))
                .Append("\",destination=\"").Append(Labels.Escape(destination)).Append("\",reason=\"").Append(Labels.Escape(reason)).Append("\"} ")
                .Append(Interlocked.Read(ref counter.Value).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("# HELP mesh_ejections_total Endpoints ejected by outlier detection.\n# TYPE mesh_ejections_total counter\n");
        foreach (var ((destination, endpoint), counter) in _ejections.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal))
        {
            text.Append("mesh_ejections_total{destination=\"").Append(Labels.Escape(destination)).Append("\",endpoint=\"").Append(Labels.Escape(endpoint)).Append("\"} ")
                .Append(Interlocked.Read(ref counter.Value).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("# HELP mesh_authz_audit_denials_total Requests an authorization policy in Audit mode would have denied (they were let through).\n# TYPE mesh_authz_audit_denials_total counter\n");
        foreach (var ((source, destination, policy), counter) in _auditDenials.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal))
        {
            text.Append("mesh_authz_audit_denials_total{source=\"").Append(Labels.Escape(source)).Append("\",destination=\"").Append(Labels.Escape(destination))
                .Append("\",policy=\"").Append(Labels.Escape(policy)).Append("\"} ").Append(Interlocked.Read(ref counter.Value).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("# HELP mesh_tls_refusals_total TLS handshakes refused, by listener (inbound, telemetry) and reason.\n# TYPE mesh_tls_refusals_total counter\n");
        foreach (var ((listener, reason), counter) in _tlsRefusals.OrderBy(r => r.Key.Listener, StringComparer.Ordinal).ThenBy(r => r.Key.Reason, StringComparer.Ordinal))
        {
            text.Append("mesh_tls_refusals_total{listener=\"").Append(Labels.Escape(listener)).Append("\",reason=\"").Append(Labels.Escape(reason)).Append("\"} ").Append(Interlocked.Read(ref counter.Value).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("# HELP mesh_mirror_dropped_total Copies of requests not sent to a mirror service because as many as it may take were already in flight.\n# TYPE mesh_mirror_dropped_total counter\n");
        foreach (var (mirror, counter) in _mirrorDrops.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            text.Append("mesh_mirror_dropped_total{mirror=\"").Append(Labels.Escape(mirror)).Append("\"} ").Append(Interlocked.Read(ref counter.Value).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("# HELP mesh_open_connections Open connections: downstream (clients to this proxy's traffic listeners, not its admin one), upstream (this proxy to endpoints and its app).\n# TYPE mesh_open_connections gauge\n");
        text.Append("mesh_open_connections{side=\"downstream\"} ").Append(DownstreamConnections.ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append("mesh_open_connections{side=\"upstream\"} ").Append(UpstreamConnections.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return text.ToString();
    }

    private readonly record struct Labels(string Direction, string Source, string Destination, string Route, string Code, string MeshError)
    {
        public override string ToString() =>
            $"direction=\"{Escape(Direction)}\",source=\"{Escape(Source)}\",destination=\"{Escape(Destination)}\",route=\"{Escape(Route)}\",code=\"{Code}\",mesh_error=\"{Escape(MeshError)}\"";

        public static string Escape(string value) =>
            value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }

    private sealed class Counter
    {
        public long Value;
    }

    private sealed class Series
    {
        public long Count;
        public long SumTicks;
        public long RequestBytes;
        public long ResponseBytes;
        public readonly long[] BucketCounts = new long[Buckets.Length];
    }
}
