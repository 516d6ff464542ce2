using System.Net;
using System.Text.Json;
using AspireMesh.Contracts.Config;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>Sidecar metrics on the admin port, scraped by a real Prometheus server (Debian's prometheus package).</summary>
public sealed class MetricsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Metrics_ScrapedByPrometheus_CountRequestsBetweenServicesOnBothSides()
    {
        const string binary = "/usr/bin/prometheus";
        Assert.True(File.Exists(binary), $"{binary} is missing: install Debian's prometheus package (apt-get install prometheus); .ci/run does.");
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MetricsTests).Assembly,
            new MeshConfig { Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog" }] });
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () => (await client.GetAsync("http://catalog/items", Cancel)).StatusCode == HttpStatusCode.OK, Deadline, "frontend to reach catalog");
        for (var i = 0; i < 5; i++)
        {
            using var response = await client.GetAsync("http://catalog/items", Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var work = Directory.CreateTempSubdirectory("aspiremesh-prom-").FullName;
        try
        {
            var config = Path.Combine(work, "prometheus.yml");
            await File.WriteAllTextAsync(config, $"""
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: sidecars
                    static_configs:
                      - targets: ["{frontend.Admin.Authority}", "{catalog.Admin.Authority}"]
                """, Cancel);
            // Bound by another process later: a port no outgoing connection can take meanwhile.
            var port = Ports.FreeBelowEphemeral();
            await using var prometheus = await TestProcess.StartAsync("prometheus", binary,
                [$"--config.file={config}", $"--storage.tsdb.path={Path.Combine(work, "data")}", $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]);
            using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

            async Task<double> QueryAsync(string promql)
            {
                using var document = JsonDocument.Parse(await api.GetStringAsync($"api/v1/query?query={Uri.EscapeDataString(promql)}", Cancel));
                var result = document.RootElement.GetProperty("data").GetProperty("result");
                return result.GetArrayLength() == 0 ? 0 : double.Parse(result[0].GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            }

            // The caller's sidecar counts its outbound calls; the callee's counts the same calls inbound, naming the caller.
            await Eventually.UntilAsync(async () =>
                await QueryAsync("sum(mesh_requests_total{direction=\"outbound\",source=\"frontend\",destination=\"catalog\",code=\"2xx\"})") >= 6
                && await QueryAsync("sum(mesh_requests_total{direction=\"inbound\",source=\"frontend\",destination=\"catalog\",code=\"2xx\"})") >= 6
                // Both targets' latest scrape answered (a scrape that ran into its 1 s timeout on a busy machine is
                // followed by another within the second).
                && await QueryAsync("count(up{job=\"sidecars\"} == 1)") == 2,
                Deadline, "Prometheus to scrape both sidecars' counts of frontend -> catalog");
            Assert.True(await QueryAsync("sum(mesh_request_duration_seconds_count{direction=\"inbound\",destination=\"catalog\"})") >= 6);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
