using System.Net;
using System.Net.Http.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Telemetry;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// A sidecar's telemetry listener (<c>--telemetry-port</c>), for a control plane and a Prometheus on other machines: the
/// control plane reads stats and tap there over mTLS as itself; anyone else gets metrics and readiness only.
/// </summary>
public sealed class TelemetryListenerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StatsAndTap_SidecarsWithTelemetryListeners_ControlPlaneReadsThemThereOverMtls()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TelemetryListenerTests).Assembly, null, "--ControlPlane:StatsInterval=00:00:00.250");
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url, "--telemetry-port", "0");
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url, "--telemetry-port", "0");
        await controlPlane.WaitUntilRoutableAsync("catalog-1", ["frontend-1"], Deadline);

        // Each reports its telemetry listener and, with one, no admin address: the control plane can read it only there.
        ProxyList? proxies = null;
        await Eventually.UntilAsync(async () =>
        {
            proxies = await controlPlane.Admin.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel);
            return proxies!.Proxies.Count(p => p.TelemetryAddress is not null) == 2;
        }, Deadline, "both sidecars to report their telemetry listeners");
        foreach (var (proxy, sidecar) in new[] { ("frontend-1", frontend), ("catalog-1", catalog) })
        {
            var info = proxies!.Proxies.Single(p => p.Id == proxy);
            Assert.Null(info.AdminAddress);
            Assert.Equal((await TelemetryUrlAsync(sidecar)).ToString().TrimEnd('/'), info.TelemetryAddress);
            Assert.StartsWith("https://127.0.0.1:", info.TelemetryAddress, StringComparison.Ordinal);
        }

        using var http = frontend.OutboundClient();
        using var controlPlaneClient = new HttpClient { BaseAddress = controlPlane.Url, Timeout = Timeout.InfiniteTimeSpan };
        await Eventually.UntilAsync(async () =>
        {
            using var ok = await http.GetAsync("http://catalog/items", Cancel);
            var stats = await controlPlaneClient.GetFromJsonAsync("/v1/stats?window=30s", MeshJsonContext.Default.MeshStats, Cancel);
            return stats!.Edges.Any(e => e.Name == "frontend -> catalog" && e.Requests >= 3);
        }, Deadline, "/v1/stats to show the frontend -> catalog edge, read from the telemetry listeners");

        using var watch = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        watch.CancelAfter(Deadline);
        using var response = await controlPlaneClient.GetAsync("/v1/tap?path=/tapped", HttpCompletionOption.ResponseHeadersRead, watch.Token);
        var events = new List<TapEvent>();
        var reading = TapEvents.ReadIntoAsync(response, events, watch.Token);
        await Eventually.UntilAsync(async () =>
        {
            using var tapped = await http.GetAsync("http://catalog/tapped", Cancel);
            lock (events)
            {
                return events.Any(e => e.Proxy == "frontend-1") && events.Any(e => e.Proxy == "catalog-1");
            }
        }, Deadline, "the tap to stream the request from both sidecars' telemetry listeners");
        await watch.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
    }

    [Fact]
    public async Task TelemetryListener_CallersOtherThanTheControlPlane_GetMetricsAndReadinessNotStatsOrTap()
    {
        await using var app = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TelemetryListenerTests).Assembly, null);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url, "--telemetry-port", "0");
        var telemetry = await TelemetryUrlAsync(catalog);
        await Eventually.UntilAsync(async () => await catalog.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "the sidecar to be ready");

        // Plain HTTP, as Prometheus and the kubelet call it.
        using var plain = new HttpClient { BaseAddress = telemetry.AsHttp(), Timeout = Deadline };
        using (var metrics = await plain.GetAsync("metrics", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            Assert.Contains("# TYPE mesh_requests_total counter", await metrics.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        }

        using (var ready = await plain.GetAsync("ready", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        Assert.Equal("live\n", await plain.GetStringAsync("live", Cancel));
        foreach (var path in new[] { "stats", "tap", "STATS", "stats/" })
        {
            using var refused = await plain.GetAsync(path, Cancel);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("answers only the control plane (spiffe://cluster.local/ns/aspiremesh-system/sa/controlplane) over mTLS, not a caller without a mesh certificate",
                await refused.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        }

        // What changes the proxy, and its runtime's counters, stay on the admin port.
        using (var runtime = await plain.GetAsync("debug/runtime", Cancel))
        using (var accessLog = await plain.PutAsync("access-log?enabled=true", null, Cancel))
        {
            Assert.Equal((HttpStatusCode.NotFound, HttpStatusCode.NotFound), (runtime.StatusCode, accessLog.StatusCode));
        }

        using var admin = new HttpClient { BaseAddress = catalog.Admin, Timeout = Deadline };
        Assert.Equal("off\n", await admin.GetStringAsync("access-log", Cancel));

        // Another workload of the mesh, over mTLS: its certificate is good, but it is not the control plane.
        using var frontend = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var mutual = frontend.Client();
        using (var stats = await mutual.GetAsync(new Uri(telemetry, "stats"), Cancel))
        {
            Assert.Equal(HttpStatusCode.Forbidden, stats.StatusCode);
            Assert.Contains("not spiffe://cluster.local/ns/default/sa/frontend", await stats.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        }

        using var overMtls = await mutual.GetAsync(new Uri(telemetry, "metrics"), Cancel);
        Assert.Equal(HttpStatusCode.OK, overMtls.StatusCode);
    }

    [Fact]
    public async Task TelemetryListener_TlsWithoutAMeshCertificate_RefusedAndCountedAsTheTelemetryListeners()
    {
        await using var app = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TelemetryListenerTests).Assembly, null);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url, "--telemetry-port", "0");
        var telemetry = await TelemetryUrlAsync(catalog);
        await Eventually.UntilAsync(async () => await catalog.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "the sidecar to be ready");

        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        using var anonymous = new HttpClient(handler) { Timeout = Deadline };
        await Assert.ThrowsAsync<HttpRequestException>(() => anonymous.GetAsync(new Uri(telemetry, "stats"), Cancel));

        // Told apart from the inbound port's refusals, where peers' traffic arrives.
        using var plain = new HttpClient { BaseAddress = telemetry.AsHttp(), Timeout = Deadline };
        var last = "";
        await Eventually.UntilAsync(async () => System.Text.RegularExpressions.Regex.IsMatch(last = await plain.GetStringAsync("metrics", Cancel),
                "^mesh_tls_refusals_total\\{listener=\"telemetry\",reason=\"no-certificate\"\\} [1-9]", System.Text.RegularExpressions.RegexOptions.Multiline),
            Deadline, () => $"the refusal to be counted under the telemetry listener: {string.Join(" | ", last.Split('\n').Where(l => l.Contains("tls", StringComparison.Ordinal)))}");
        Assert.DoesNotContain("mesh_tls_refusals_total{listener=\"inbound\"", await plain.GetStringAsync("metrics", Cancel), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--telemetry-port 70000", "--telemetry-port: 70000 is not a port (0-65535).")]
    [InlineData("--telemetry-port -1", "--telemetry-port: -1 is not a port (0-65535).")]
    public async Task TelemetryPort_NotAPort_RefusedAtStartNamingIt(string arguments, string expected)
    {
        await using var process = await TestProcess.StartDotnetAsync("sidecar", SidecarProcess.Assembly,
            ["--service", "catalog", "--app-url", "http://127.0.0.1:1", .. arguments.Split(' ')]);
        Assert.NotEqual(0, await process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains(expected, process.Output + process.ErrorOutput, StringComparison.Ordinal);
    }

    private static async Task<Uri> TelemetryUrlAsync(SidecarProcess sidecar) =>
        new((await sidecar.Process.WaitForLineAsync(@"Telemetry listener at (\S+):", Deadline)).Groups[1].Value + "/");
}

internal static class TelemetryUris
{
    /// <summary>The same listener, called in plaintext (it takes both on one port).</summary>
    public static Uri AsHttp(this Uri url) => new UriBuilder(url) { Scheme = Uri.UriSchemeHttp }.Uri;
}
