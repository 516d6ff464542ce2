using AspireMesh.ProxyEngine.Telemetry;

namespace AspireMesh.ProxyEngine.Tests.Telemetry;

public sealed class RequestMetricsTests
{
    [Fact]
    public void ToPrometheusText_RecordedRequests_CountsAndCumulativeHistogram()
    {
        var metrics = new RequestMetrics();
        metrics.Record("outbound", "frontend", "catalog", "service/catalog", 200, "", TimeSpan.FromMilliseconds(3));
        metrics.Record("outbound", "frontend", "catalog", "service/catalog", 204, "", TimeSpan.FromMilliseconds(40));
        metrics.Record("outbound", "frontend", "catalog", "service/catalog", 503, "no-healthy-endpoint", TimeSpan.FromMilliseconds(1));

        var lines = metrics.ToPrometheusText().Split('\n');

        const string ok = "direction=\"outbound\",source=\"frontend\",destination=\"catalog\",route=\"service/catalog\",code=\"2xx\",mesh_error=\"\"";
        Assert.Contains($"mesh_requests_total{{{ok}}} 2", lines);
        Assert.Contains("mesh_requests_total{direction=\"outbound\",source=\"frontend\",destination=\"catalog\",route=\"service/catalog\",code=\"5xx\",mesh_error=\"no-healthy-endpoint\"} 1", lines);
        Assert.Contains($"mesh_request_duration_seconds_bucket{{{ok},le=\"0.005\"}} 1", lines);
        Assert.Contains($"mesh_request_duration_seconds_bucket{{{ok},le=\"0.025\"}} 1", lines);
        Assert.Contains($"mesh_request_duration_seconds_bucket{{{ok},le=\"0.05\"}} 2", lines);
        Assert.Contains($"mesh_request_duration_seconds_bucket{{{ok},le=\"+Inf\"}} 2", lines);
        Assert.Contains($"mesh_request_duration_seconds_sum{{{ok}}} 0.043", lines);
        Assert.Contains($"mesh_request_duration_seconds_count{{{ok}}} 2", lines);
        Assert.Contains("# TYPE mesh_request_duration_seconds histogram", lines);
    }

    [Fact]
    public void ToPrometheusText_LabelWithQuotes_Escaped()
    {
        var metrics = new RequestMetrics();
        metrics.Record("ingress", "external", "a\"b", "r", 200, "", TimeSpan.Zero);

        Assert.Contains("destination=\"a\\\"b\"", metrics.ToPrometheusText(), StringComparison.Ordinal);
    }
}
