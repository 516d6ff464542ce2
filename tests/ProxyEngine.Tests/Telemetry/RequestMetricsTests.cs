using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

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

    [Fact]
    public async Task DownstreamConnections_CountsTheTrafficListeners_NotTheAdminOneNorOtherServers()
    {
        using var metrics = new RequestMetrics();
        await using var traffic = await StartListenerAsync(metrics, counted: true);
        await using var admin = await StartListenerAsync(metrics, counted: false);
        using var toTraffic = new HttpClient();
        using var toAdmin = new HttpClient();

        // Kestrel counts a connection when it accepts it, before the request on it is answered.
        Assert.Equal("ok", await toTraffic.GetStringAsync(new Uri(traffic.Urls.Single()), TestContext.Current.CancellationToken));
        Assert.Equal(1, metrics.DownstreamConnections);
        Assert.Equal("ok", await toAdmin.GetStringAsync(new Uri(admin.Urls.Single()), TestContext.Current.CancellationToken));
        Assert.Equal(1, metrics.DownstreamConnections);

        // Closing the counted connection takes it off again.
        toTraffic.Dispose();
        await Eventually.UntilAsync(() => metrics.DownstreamConnections == 0, TimeSpan.FromSeconds(10),
            "the closed connection to leave the count");
    }

    private static async Task<WebApplication> StartListenerAsync(RequestMetrics metrics, bool counted)
    {
        var builder = ListenerHost.CreateBuilder("http://127.0.0.1:0");
        builder.Services.AddSingleton(metrics);
        var app = builder.Build();
        if (counted)
        {
            app.UseMeshMetrics(new MetricsOptions { Direction = "inbound", Source = "unknown", Enabled = false });
        }

        app.MapGet("/", () => "ok");
        await app.StartAsync(TestContext.Current.CancellationToken);
        return app;
    }
}
