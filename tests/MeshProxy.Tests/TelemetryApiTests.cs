using System.Net;
using System.Net.Http.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Telemetry;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>The control plane's view of live traffic: golden metrics from the proxies' statistics, and the merged tap.</summary>
public sealed class TelemetryApiTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>A control plane, and frontend calling catalog through their sidecars; catalog fails /fail with a 500.</summary>
    private sealed record Pair(ControlPlaneProcess ControlPlane, SidecarProcess Frontend, SidecarProcess Catalog, TestBackend[] Apps) : IAsyncDisposable
    {
        /// <summary>The catalog sidecar: a test that restarts it puts the new one here, to be stopped with the rest.</summary>
        public SidecarProcess Catalog { get; set; } = Catalog;

        public async ValueTask DisposeAsync()
        {
            await Frontend.DisposeAsync();
            await Catalog.DisposeAsync();
            await ControlPlane.DisposeAsync();
            foreach (var app in Apps)
            {
                await app.DisposeAsync();
            }
        }
    }

    private static async Task<Pair> StartPairAsync(params string[] catalogArgs)
    {
        var frontendApp = await TestBackend.StartAsync("frontend-app");
        var catalogApp = await TestBackend.StartAsync("catalog-app");
        catalogApp.Handler = async context =>
        {
            context.Response.StatusCode = context.Request.Path.StartsWithSegments("/fail") ? 500 : 200;
            await context.Response.WriteAsync("catalog");
        };
        var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TelemetryApiTests).Assembly, null, "--ControlPlane:StatsInterval=00:00:00.250");
        var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url, catalogArgs);
        // No request before frontend's sidecar can route it: the tests count every failure of the edge.
        await controlPlane.WaitUntilRoutableAsync("catalog-1", ["frontend-1"], Deadline);
        using (var http = frontend.OutboundClient())
        using (var warm = await http.GetAsync("http://catalog/warm", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }
        return new Pair(controlPlane, frontend, catalog, [frontendApp, catalogApp]);
    }

    [Fact]
    public async Task Stats_TrafficWithFailures_EdgeAndServiceShowRateSuccessAndLatency()
    {
        await using var pair = await StartPairAsync();
        var (controlPlane, frontend) = (pair.ControlPlane, pair.Frontend);
        using var http = frontend.OutboundClient();
        using var stats = new HttpClient { BaseAddress = controlPlane.Url };

        MeshStats? seen = null;
        await Eventually.UntilAsync(async () =>
        {
            // Three good requests for one failure, again and again, until the window holds them.
            for (var i = 0; i < 3; i++)
            {
                using var ok = await http.GetAsync("http://catalog/items", Cancel);
            }

            using var failed = await http.GetAsync("http://catalog/fail", Cancel);
            seen = await stats.GetFromJsonAsync("/v1/stats?window=30s", MeshJsonContext.Default.MeshStats, Cancel);
            return seen!.Edges.Any(e => e.Name == "frontend -> catalog" && e.Requests >= 8)
                && seen.Services.Any(s => s.Name == "catalog" && s.Requests >= 8);
        }, Deadline, "/v1/stats to show the frontend -> catalog edge and the catalog service");

        var edge = seen!.Edges.Single(e => e.Name == "frontend -> catalog");
        Assert.Equal("frontend", edge.Source);
        Assert.Equal("catalog", edge.Destination);
        Assert.True(edge.RequestsPerSecond > 0);
        Assert.InRange(edge.SuccessRate!.Value, 0.5, 0.95); // about 3 of 4 (the warm-up request was a success too)
        Assert.NotNull(edge.P99Ms);
        Assert.True(edge.P50Ms <= edge.P99Ms);
        var service = seen.Services.Single(s => s.Name == "catalog");
        Assert.InRange(service.SuccessRate!.Value, 0.5, 0.95);
        Assert.Contains(seen.History, p => p.Service == "catalog" && p.RequestsPerSecond > 0);    }

    [Fact]
    public async Task Tap_FilteredByPath_StreamsTheRequestFromEveryProxyOnItsWay()
    {
        await using var pair = await StartPairAsync();
        var (controlPlane, frontend) = (pair.ControlPlane, pair.Frontend);
        using var tapClient = new HttpClient { BaseAddress = controlPlane.Url, Timeout = Timeout.InfiniteTimeSpan };
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        watch.CancelAfter(Deadline);
        using var response = await tapClient.GetAsync("/v1/tap?path=/tapped", HttpCompletionOption.ResponseHeadersRead, watch.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<TapEvent>();
        var reading = TapEvents.ReadIntoAsync(response, events, watch.Token);
        using var http = frontend.OutboundClient();

        // The tap starts when the proxies have been asked; keep sending until both sides of the hop show up.
        await Eventually.UntilAsync(async () =>
        {
            using var ignored = await http.GetAsync("http://catalog/untapped", Cancel);
            using var tapped = await http.GetAsync("http://catalog/tapped/1", Cancel);
            lock (events)
            {
                return events.Any(e => e.Direction == "outbound" && e.Proxy == "frontend-1") && events.Any(e => e.Direction == "inbound" && e.Proxy == "catalog-1");
            }
        }, Deadline, "the tap to stream the request from both sidecars");

        await watch.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        lock (events)
        {
            Assert.All(events, e => Assert.StartsWith("/tapped", e.Path, StringComparison.Ordinal));
            var outbound = events.First(e => e.Direction == "outbound");
            Assert.Equal(("GET", 200, "frontend", "catalog", "catalog-1"), (outbound.Method, outbound.Status, outbound.Source, outbound.Destination, outbound.Endpoint));
            Assert.True(outbound.LatencyMs > 0);
        }
    }

    /// <summary>
    /// A sidecar restarted under its instance id on its admin port (the address the control plane reads its tap at) is
    /// read again: its requests after the restart show in a tap that was open across it.
    /// </summary>
    [Fact]
    public async Task Tap_SidecarRestartsUnderItsIdOnTheSamePort_ItsRequestsShowAgain()
    {
        var adminPort = Ports.FreeBelowEphemeral().ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var pair = await StartPairAsync("--admin-port", adminPort);
        var (controlPlane, frontend) = (pair.ControlPlane, pair.Frontend);
        using var tapClient = new HttpClient { BaseAddress = controlPlane.Url, Timeout = Timeout.InfiniteTimeSpan };
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        watch.CancelAfter(3 * Deadline);
        using var response = await tapClient.GetAsync("/v1/tap?path=/tapped", HttpCompletionOption.ResponseHeadersRead, watch.Token);
        var events = new List<TapEvent>();
        var reading = TapEvents.ReadIntoAsync(response, events, watch.Token);
        using var http = frontend.OutboundClient();
        await ShowsInboundAsync(http, events, "/tapped/before");

        pair.Catalog = await RestartAsync(pair, adminPort);
        await controlPlane.WaitUntilRoutableAsync("catalog-1", ["frontend-1"], Deadline);

        await ShowsInboundAsync(http, events, "/tapped/after");
        await watch.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
    }

    // Stops the catalog sidecar, then starts it again under its id and admin port (if that fails, the pair's disposal
    // finds the old one already stopped).
    private static async Task<SidecarProcess> RestartAsync(Pair pair, string adminPort)
    {
        await pair.Catalog.DisposeAsync();
        return await SidecarProcess.StartAsync(pair.ControlPlane, "catalog", "catalog-1", pair.Apps[1].Url, "--admin-port", adminPort);
    }

    private static Task ShowsInboundAsync(HttpClient http, List<TapEvent> events, string path) =>
        Eventually.UntilAsync(async () =>
        {
            using var tapped = await http.GetAsync($"http://catalog{path}", Cancel);
            lock (events)
            {
                return events.Any(e => e.Direction == "inbound" && e.Proxy == "catalog-1" && e.Path == path);
            }
        }, Deadline, $"the tap to stream {path} from catalog-1's sidecar");
}
