using AspireMesh.Contracts.Admin;
using AspireMesh.ControlPlane.Telemetry;

namespace AspireMesh.ControlPlane.Tests.Telemetry;

public sealed class GoldenMetricsCalculatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset LongAgo = T0.AddHours(-3);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    [Fact]
    public void Compute_ProxyMissingFromOneCollection_ItsHistoryIsNotCountedAsABurst()
    {
        // catalog's sidecar has served 100000 requests since it started hours ago; its fetch fails once (t0+5), then
        // 50 more requests arrive by t0+10. Neither the window nor the chart may show the 100000 as new.
        var collections = new[]
        {
            Collection(T0, Sidecar("catalog-1", LongAgo, 100_000)),
            Collection(T0.AddSeconds(5)),
            Collection(T0.AddSeconds(10), Sidecar("catalog-1", LongAgo, 100_050)),
        };

        var stats = GoldenMetricsCalculator.Compute(collections, Window);

        var catalog = Assert.Single(stats.Services);
        Assert.Equal(50, catalog.Requests);
        Assert.Equal(5.0, catalog.RequestsPerSecond, 3);
        Assert.DoesNotContain(stats.History, p => p.RequestsPerSecond > 100);
    }

    [Fact]
    public void Compute_ProxyStartedBetweenCollections_EverythingItCountedIsNew()
    {
        var collections = new[]
        {
            Collection(T0, Sidecar("catalog-1", LongAgo, 1_000)),
            Collection(T0.AddSeconds(10), Sidecar("catalog-1", LongAgo, 1_000), Sidecar("catalog-2", T0.AddSeconds(4), 30)),
        };

        var stats = GoldenMetricsCalculator.Compute(collections, Window);

        Assert.Equal(30, Assert.Single(stats.Services).Requests);
    }

    [Fact]
    public void Compute_ProxyRestartedBetweenCollections_CountsFromItsRestart()
    {
        // More requests since the restart than before it: only the new start time tells the counts started over.
        var collections = new[]
        {
            Collection(T0, Sidecar("catalog-1", LongAgo, 20)),
            Collection(T0.AddSeconds(10), Sidecar("catalog-1", T0.AddSeconds(2), 70)),
        };

        var stats = GoldenMetricsCalculator.Compute(collections, Window);

        Assert.Equal(70, Assert.Single(stats.Services).Requests);
    }

    [Fact]
    public void Compute_ControlPlaneRestarted_ProxyFirstCollectedLater_IsLeftOutUntilItHasABaseline()
    {
        // A restarted control plane collects catalog-1 at t0 but reaches catalog-2 (running for hours) only at t0+5.
        var collections = new[]
        {
            Collection(T0, Sidecar("catalog-1", LongAgo, 500)),
            Collection(T0.AddSeconds(5), Sidecar("catalog-1", LongAgo, 510), Sidecar("catalog-2", LongAgo, 90_000)),
        };

        var stats = GoldenMetricsCalculator.Compute(collections, Window);

        Assert.Equal(10, Assert.Single(stats.Services).Requests);
    }

    private static StatsCollector.Collection Collection(DateTimeOffset at, params ProxyStats[] proxies) =>
        new(at, proxies.ToDictionary(p => p.ProxyId, StringComparer.Ordinal));

    private static ProxyStats Sidecar(string id, DateTimeOffset startedAt, long requests) =>
        new(id, startedAt, [0.001, 0.01, 0.1],
            [new StatsSeries("inbound", "frontend", "catalog", "", "2xx", "", requests, [requests, 0, 0], requests * 0.0005, 0, requests * 1024)],
            [], [], 1, 1)
        { StartedAt = startedAt };
}
