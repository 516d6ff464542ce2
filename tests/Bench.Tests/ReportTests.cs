using AspireMesh.Mesh.Bench;

namespace AspireMesh.Bench.Tests;

public sealed class ReportTests
{
    private static Scenario Of(string id) => Scenarios.All.Single(s => s.Id == id);

    private static ScenarioResult Max(string id, string protocol, double rps, double? baseline = null) =>
        new(Of(id), protocol, rps, 0, [], []) { BaselineMaxRps = baseline };

    private static string TargetRow(string markdown, string target) =>
        markdown.Split('\n').Single(line => line.StartsWith($"| {target}", StringComparison.Ordinal));

    [Fact]
    public void GatewayTarget_WithAlternatingRounds_ReadsTheirRatioNotTheSeparateRuns()
    {
        // Separate runs: 30000 vs 60000 (0.50x). Side by side in alternation: 40000 vs 50000 (0.80x).
        var results = new[] { Max("gateway", "h1", 30000), Max("nginx", "h1", 60000), Max("gateway-vs-nginx", "h1", 40000, baseline: 50000) };

        var markdown = Report.Markdown(results, "test machine", "test", "chart.svg");

        var row = TargetRow(markdown, "Gateway max throughput >= 0.75x nginx (HTTP/1.1)");
        Assert.Contains("0.80x (40000 vs 50000 req/s, medians of alternating rounds side by side)", row, StringComparison.Ordinal);
        Assert.EndsWith("| pass |", row, StringComparison.Ordinal);
        Assert.Single(markdown.Split('\n'), line => line.StartsWith("| Gateway max throughput", StringComparison.Ordinal));
        // The throughput table's "vs nginx" column of the side-by-side row is to its own nginx, not the separate one's.
        Assert.Contains(markdown.Split('\n'), line => line.StartsWith("| Gateway, in alternation with nginx | HTTP/1.1 | 40000 | 0.80x |", StringComparison.Ordinal));
    }

    [Fact]
    public void GatewayTarget_WithoutAlternatingRounds_ReadsTheSeparateRuns()
    {
        var results = new[] { Max("gateway", "h1", 30000), Max("nginx", "h1", 60000) };

        var row = TargetRow(Report.Markdown(results, "test machine", "test", "chart.svg"), "Gateway max throughput >= 0.75x nginx (HTTP/1.1)");

        Assert.Contains("0.50x (30000 vs 60000 req/s, separate runs)", row, StringComparison.Ordinal);
        Assert.EndsWith("| **fail** |", row, StringComparison.Ordinal);
    }

    [Fact]
    public void AlternationWithNginx_IsNotReadAsATelemetryComparison()
    {
        var results = new[]
        {
            Max("gateway", "h1", 40000), Max("gateway-vs-nginx", "h1", 40000, baseline: 50000), Max("gateway-notelemetry", "h1", 41000, baseline: 40000),
        };

        var markdown = Report.Markdown(results, "test machine", "test", "chart.svg");

        var telemetryTargets = markdown.Split('\n').Where(line => line.StartsWith("| telemetry costs", StringComparison.Ordinal)).ToList();
        var only = Assert.Single(telemetryTargets);
        Assert.StartsWith("| telemetry costs <= 10 % of throughput: Gateway (HTTP/1.1)", only, StringComparison.Ordinal);
    }

    [Fact]
    public void IoPoolAlternation_InItsOwnTable_NotReadAsATelemetryComparison()
    {
        var results = new[] { Max("gateway", "h1", 40000), Max("gateway-pool", "h1", 32000, baseline: 40000), Max("gateway-notelemetry", "h1", 41000, baseline: 40000) };

        var markdown = Report.Markdown(results, "test machine", "test", "chart.svg");

        Assert.Contains(markdown.Split('\n'), line => line == "| Gateway | HTTP/1.1 | 40000 | 32000 | 1.25x |");
        var telemetry = markdown[markdown.IndexOf("### Telemetry on versus off", StringComparison.Ordinal)..markdown.IndexOf("### `--io auto`", StringComparison.Ordinal)];
        Assert.Single(telemetry.Split('\n'), line => line.StartsWith("| Gateway", StringComparison.Ordinal));
        Assert.Single(markdown.Split('\n'), line => line.StartsWith("| telemetry costs", StringComparison.Ordinal));
    }

    /// <summary>A scenario's 1000 requests/s level, with both sidecars' RSS (MB).</summary>
    private static ScenarioResult AtFixedRate(string id, string protocol, double maxRps, double clientRss, double backendRss)
    {
        var latency = new Histogram();
        latency.Record(500_000);
        ProcessCost Cost(string name, double rss) => new(name, 0.2, rss, rss + 10, 4000, 0, 0, 0);
        return new(Of(id), protocol, maxRps, 0, [new RateResult(Runner.Fixed, 1000, 1000, 0, latency, [Cost("client sidecar", clientRss), Cost("backend sidecar", backendRss)])], []);
    }

    [Fact]
    public void SteadyOnlyScenario_ItsOwnRssVerdict_NoMaximumAndNotInTheThroughputChart()
    {
        // After the bursts 45 MB; driven at 1000 requests/s only, 38.5 MB.
        var results = new[] { AtFixedRate("sidecars-aot", "h1", 12000, 45, 41), AtFixedRate("sidecars-aot-steady", "h1", 0, 38.5, 36) };

        var markdown = Report.Markdown(results, "test machine", "test", "chart.svg");
        var svg = Report.Svg(results);

        Assert.EndsWith("| **fail** |", TargetRow(markdown, "sidecar steady RSS <= 40 MB at 1000 req/s (Native AOT) |"), StringComparison.Ordinal);
        var steady = TargetRow(markdown, "sidecar steady RSS <= 40 MB at 1000 req/s (Native AOT, driven at 1000 req/s only)");
        Assert.Contains("38.5 MB", steady, StringComparison.Ordinal);
        Assert.EndsWith("| pass |", steady, StringComparison.Ordinal);
        var row = markdown.Split('\n').Single(line => line.StartsWith("| sidecar pair, Native AOT, 1000 req/s only | HTTP/1.1 |", StringComparison.Ordinal) && line.Contains("client sidecar", StringComparison.Ordinal));
        Assert.Equal(["sidecar pair, Native AOT, 1000 req/s only", "HTTP/1.1", "", "", "", "", "client sidecar", "0.200", "38.5"], row.Split('|').Skip(1).Take(9).Select(c => c.Trim()));
        var throughputChart = svg[..svg.IndexOf("Added p99 latency", StringComparison.Ordinal)];
        Assert.DoesNotContain("1000 req/s only", throughputChart, StringComparison.Ordinal);
        Assert.Contains("1000 req/s only", svg[svg.IndexOf("Added p99 latency", StringComparison.Ordinal)..], StringComparison.Ordinal);
    }
}
