using System.Net;
using AspireMesh.Contracts.Registry;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Mesh.Bench;

/// <summary>
/// One way of reaching the upstream. <see cref="StartAsync"/> starts the scenario's own processes (proxies) and
/// returns where to send load; <see cref="Pending"/> scenarios are listed in the report but not run yet.
/// </summary>
internal sealed record Scenario(string Id, string Title, string Path, Func<Topology, Task<RunningScenario>> StartAsync)
{
    /// <summary>Why the scenario is not run yet, or null when it runs.</summary>
    public string? Pending { get; init; }

    /// <summary>Measured only for maximum throughput (telemetry-off variants).</summary>
    public bool ThroughputOnly { get; init; }

    /// <summary>
    /// Measured only at 1000 requests/s, freshly started and never driven harder (warmed up at that rate): the steady
    /// state of a proxy whose load has always been ordinary, where the other scenarios measure it after their bursts.
    /// </summary>
    public bool SteadyOnly { get; init; }

    /// <summary>Whether the scenario's proxies are ours (allocations per request come from their /debug/runtime).</summary>
    public bool OurProxies { get; init; }

    /// <summary>Whether its HTTP/2 entry point is TLS (h2 by ALPN) rather than h2c: the Gateway's.</summary>
    public bool Http2OverTls { get; init; }

    /// <summary>
    /// A scenario to measure this one's maximum throughput against in alternation (both started side by side): the
    /// telemetry-off variants name their telemetry-on twin, the plaintext sidecar pair an mTLS pair, started with
    /// <see cref="StartBaselineAsync"/>.
    /// </summary>
    public string? Baseline { get; init; }

    /// <summary>Starts the baseline beside this scenario (with names that do not collide with this one's).</summary>
    public Func<Topology, Task<RunningScenario>>? StartBaselineAsync { get; init; }

    /// <summary>
    /// The baseline is a reference proxy (nginx) rather than a twin of ours: the maximum throughputs are compared as a
    /// ratio (the Gateway's target), over HTTP/1.1 only, where both entry points speak the same protocol.
    /// </summary>
    public bool VersusReference { get; init; }

    /// <summary>
    /// This scenario runs its proxies with <c>--io pool</c> and its baseline with their default (<c>--io auto</c>): the
    /// two are compared as I/O scheduling modes, not as telemetry on and off.
    /// </summary>
    public bool IoComparison { get; init; }
}

/// <summary>A started scenario: its HTTP/1.1 and HTTP/2 entry points and the processes whose cost is measured.</summary>
internal sealed class RunningScenario(LoadTarget http1, LoadTarget? http2, IReadOnlyList<BenchProcess> proxies) : IAsyncDisposable
{
    public LoadTarget Http1 { get; } = http1;

    /// <summary>The HTTP/2 (prior knowledge) entry point, or null when the entry proxy has none.</summary>
    public LoadTarget? Http2 { get; } = http2;

    public IReadOnlyList<BenchProcess> Proxies { get; } = proxies;

    public List<Func<Task>> Cleanup { get; } = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var cleanup in Cleanup)
        {
            await cleanup().ConfigureAwait(false);
        }

        foreach (var proxy in Proxies.Reverse())
        {
            await proxy.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>The scenarios, in the order they run. A new one (e.g. the sidecar pair with mTLS) is one more entry.</summary>
internal static class Scenarios
{
    public static IReadOnlyList<Scenario> All { get; } =
    [
        new("direct", "direct", "load -> upstream", t => Task.FromResult(new RunningScenario(
            new LoadTarget(new Uri($"http://127.0.0.1:{t.UpstreamHttp1Port}/plain"), null, HttpVersion.Version11),
            new LoadTarget(new Uri($"http://127.0.0.1:{t.UpstreamHttp2Port}/plain"), null, HttpVersion.Version20), []))),
        new("gateway", "Gateway", "load -> Gateway -> upstream", t => GatewayAsync(t, "/plain", telemetry: true)) { OurProxies = true, Http2OverTls = true },
        new("sidecars", "sidecar pair (mTLS, HTTP/2 by ALPN between them)", "load -> client sidecar (outbound) -> (mTLS) -> server sidecar (inbound) -> upstream",
            t => SidecarPairAsync(t, telemetry: true)) { OurProxies = true },
        new("sidecars-plaintext", "sidecar pair, plaintext (h2c between them)", "as sidecar pair, server sidecar with --inbound-mtls off: the cost of mTLS by difference",
            t => SidecarPairAsync(t, telemetry: true, mtls: false))
        {
            // Maximum throughput in alternation with an mTLS pair beside it: the difference is mTLS's cost, and the
            // machine's drift between two separate scenarios would swamp it.
            OurProxies = true, Baseline = "sidecars", StartBaselineAsync = t => SidecarPairAsync(t, telemetry: true, suffix: "-b"),
        },
        new("sidecars-aot", "sidecar pair, Native AOT", "as sidecar pair, both sidecars Native AOT executables (build/publish-sidecar-aot.sh, on .NET 10)",
            t => SidecarPairAsync(t, telemetry: true, native: true)) { OurProxies = true },
        new("sidecars-steady", "sidecar pair, 1000 req/s only", "as sidecar pair, freshly started and driven at 1000 requests/s only (no maximum-throughput burst before)",
            t => SidecarPairAsync(t, telemetry: true)) { OurProxies = true, SteadyOnly = true },
        new("sidecars-aot-steady", "sidecar pair, Native AOT, 1000 req/s only", "as sidecar pair, Native AOT, freshly started and driven at 1000 requests/s only",
            t => SidecarPairAsync(t, telemetry: true, native: true)) { OurProxies = true, SteadyOnly = true },
        new("full", "Gateway -> sidecar -> sidecar", "load -> Gateway -> edge sidecar (outbound) -> server sidecar (inbound) -> upstream",
            FullPathAsync) { OurProxies = true, Http2OverTls = true },
        new("nginx", "nginx", "load -> nginx (worker_processes auto) -> upstream", ReferenceProxies.NginxAsync),
        new("haproxy", "HAProxy", "load -> HAProxy (all threads) -> upstream", ReferenceProxies.HaproxyAsync),
        new("gateway-vs-nginx", "Gateway, in alternation with nginx", "as Gateway, beside an nginx in front of the same upstream, the two measured in alternation (the throughput target's ratio)",
            t => GatewayAsync(t, "/plain", telemetry: true))
        {
            // Separate scenarios run minutes apart, and nginx's maximum alone moved by 30 % between runs on a shared
            // machine; side by side, in alternating rounds, the machine's drift falls on both alike.
            ThroughputOnly = true, OurProxies = true, Http2OverTls = true, VersusReference = true, Baseline = "nginx", StartBaselineAsync = ReferenceProxies.NginxAsync,
        },
        new("gateway-notelemetry", "Gateway, --telemetry off", "as Gateway, measured in alternation with a Gateway with telemetry", t => GatewayAsync(t, "/plain", telemetry: false))
        {
            ThroughputOnly = true, OurProxies = true, Http2OverTls = true, Baseline = "gateway", StartBaselineAsync = t => GatewayAsync(t, "/plain", telemetry: true),
        },
        new("gateway-pool", "Gateway, --io pool", "as Gateway, with --io pool (every request handed to the .NET thread pool), measured in alternation with a Gateway with the default --io auto",
            t => GatewayAsync(t, "/plain", telemetry: true, io: "pool"))
        {
            ThroughputOnly = true, OurProxies = true, Http2OverTls = true, IoComparison = true, Baseline = "gateway", StartBaselineAsync = t => GatewayAsync(t, "/plain", telemetry: true, io: "auto"),
        },
        new("sidecars-pool", "sidecar pair, --io pool", "as sidecar pair, with --io pool, measured in alternation with a pair with the default --io auto",
            t => SidecarPairAsync(t, telemetry: true, io: "pool"))
        {
            ThroughputOnly = true, OurProxies = true, IoComparison = true, Baseline = "sidecars", StartBaselineAsync = t => SidecarPairAsync(t, telemetry: true, suffix: "-b", io: "auto"),
        },
        new("sidecars-notelemetry", "sidecar pair, --telemetry off", "as sidecar pair, measured in alternation with a pair with telemetry", t => SidecarPairAsync(t, telemetry: false))
        {
            ThroughputOnly = true, OurProxies = true, Baseline = "sidecars", StartBaselineAsync = t => SidecarPairAsync(t, telemetry: true, suffix: "-b"),
        },
    ];

    /// <summary>
    /// Starts a Gateway with its plaintext HTTP/1.1 port and its HTTPS port (HTTP/2 by ALPN, with the development
    /// certificate it generates in its state directory).
    /// </summary>
    private static async Task<(BenchProcess Process, int HttpsPort)> StartGatewayAsync(Topology t, bool telemetry, string? io = null)
    {
        int port = PortAllocator.FreePort(), https = PortAllocator.FreePort(), admin = PortAllocator.FreePort();
        var adminUrl = new Uri($"http://127.0.0.1:{admin}/");
        string[] args = ["--port", $"{port}", "--https-port", $"{https}", "--host", "127.0.0.1", "--admin-port", $"{admin}", "--control-plane", t.ControlPlane.ToString(),
            "--state-dir", Directory.CreateTempSubdirectory("gateway-").FullName, "--telemetry", telemetry ? "on" : "off", .. io is null ? t.ProxyArguments : ["--io", io, .. t.Options.ProxyExtraArguments]];
        var gateway = t.Track(await BenchProcess.StartProjectAsync("gateway", "Gateway.csproj", args, t.ProxyEnvironment("gateway", "gateway", null), adminUrl).ConfigureAwait(false));
        return (gateway.WithPort(port), https);
    }

    /// <summary>
    /// The Gateway's entry points: HTTP/1.1 on its plaintext port, HTTP/2 on its HTTPS port (its public listener offers
    /// HTTP/2 only through TLS, as browsers and most clients use it), so its HTTP/2 rows include TLS termination.
    /// </summary>
    private static async Task<RunningScenario> GatewayAsync(Topology t, string path, bool telemetry, string? io = null)
    {
        var (gateway, https) = await StartGatewayAsync(t, telemetry, io).ConfigureAwait(false);
        var scenario = new RunningScenario(new LoadTarget(new Uri($"http://127.0.0.1:{gateway.Port}{path}"), null, HttpVersion.Version11),
            new LoadTarget(new Uri($"https://127.0.0.1:{https}{path}"), null, HttpVersion.Version20), [gateway]);
        await Routed(scenario, gateway).ConfigureAwait(false);
        return scenario;
    }

    private sealed record Sidecar(BenchProcess Process, int Inbound, int InboundHttp2, int Outbound, int OutboundHttp2);

    private static async Task<Sidecar> StartSidecarAsync(Topology t, string service, bool telemetry, bool mtls = true, bool native = false, string? io = null)
    {
        int inbound = PortAllocator.FreePort(), inbound2 = PortAllocator.FreePort(), outbound = PortAllocator.FreePort(), outbound2 = PortAllocator.FreePort(),
            admin = PortAllocator.FreePort();
        string[] args = ["--service", service, "--instance-id", $"{service}-1", "--app-url", $"http://127.0.0.1:{t.UpstreamHttp1Port}",
            "--inbound-port", $"{inbound}", "--inbound-h2-port", $"{inbound2}", "--outbound-port", $"{outbound}", "--outbound-h2-port", $"{outbound2}",
            "--admin-port", $"{admin}", "--control-plane", t.ControlPlane.ToString(), "--state-dir", Directory.CreateTempSubdirectory($"{service}-").FullName,
            "--telemetry", telemetry ? "on" : "off", "--inbound-mtls", mtls ? "on" : "off", .. io is null ? t.ProxyArguments : ["--io", io, .. t.Options.ProxyExtraArguments]];
        var environment = t.ProxyEnvironment("sidecar", service, $"{service}-1");
        var adminUrl = new Uri($"http://127.0.0.1:{admin}/");
        var process = t.Track(native
            ? await BenchProcess.StartAsync($"{service} sidecar", await t.NativeSidecarAsync().ConfigureAwait(false), args, environment, adminUrl).ConfigureAwait(false)
            : await BenchProcess.StartProjectAsync($"{service} sidecar", "MeshProxy.csproj", args, environment, adminUrl).ConfigureAwait(false));
        await process.WaitForLineAsync("listening: inbound", TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        return new Sidecar(process, inbound, inbound2, outbound, outbound2);
    }

    /// <summary>A client sidecar calling a backend sidecar; <paramref name="suffix"/> names a second pair that runs beside the first.</summary>
    private static async Task<RunningScenario> SidecarPairAsync(Topology t, bool telemetry, bool mtls = true, string suffix = "", bool native = false, string? io = null)
    {
        var server = await StartSidecarAsync(t, $"backend{suffix}", telemetry, mtls, native, io).ConfigureAwait(false);
        var client = await StartSidecarAsync(t, $"client{suffix}", telemetry, native: native, io: io).ConfigureAwait(false);
        var scenario = new RunningScenario(
            new LoadTarget(new Uri($"http://127.0.0.1:{client.Outbound}/plain"), $"backend{suffix}", HttpVersion.Version11),
            new LoadTarget(new Uri($"http://127.0.0.1:{client.OutboundHttp2}/plain"), $"backend{suffix}", HttpVersion.Version20), [client.Process, server.Process]);
        await Routed(scenario, client.Process).ConfigureAwait(false);
        return scenario;
    }

    private static async Task<RunningScenario> FullPathAsync(Topology t)
    {
        var server = await StartSidecarAsync(t, "backend", telemetry: true).ConfigureAwait(false);
        var edge = await StartSidecarAsync(t, "edge", telemetry: true).ConfigureAwait(false);
        // The edge sidecar registers itself as an instance of "edge" at its inbound listener; the Gateway must reach
        // its outbound listener instead, so the bench registers that under another id of the same service.
        await t.RegisterAsync("edge-outbound", new InstanceRegistration("edge-out", $"http://127.0.0.1:{edge.Outbound}", Healthy: true)
        {
            Http2Address = $"http://127.0.0.1:{edge.OutboundHttp2}",
        }).ConfigureAwait(false);
        var (gateway, https) = await StartGatewayAsync(t, telemetry: true).ConfigureAwait(false);
        var scenario = new RunningScenario(new LoadTarget(new Uri($"http://127.0.0.1:{gateway.Port}/full"), null, HttpVersion.Version11),
            new LoadTarget(new Uri($"https://127.0.0.1:{https}/full"), null, HttpVersion.Version20), [gateway, edge.Process, server.Process]);
        scenario.Cleanup.Add(() => t.DeregisterAsync("edge-outbound"));
        await Routed(scenario, gateway).ConfigureAwait(false);
        return scenario;
    }

    /// <summary>Waits until both entry points answer 200 with the upstream's body.</summary>
    public static async Task Routed(RunningScenario scenario, BenchProcess entry)
    {
        foreach (var target in new[] { scenario.Http1, scenario.Http2 }.OfType<LoadTarget>())
        {
            using var client = OpenLoopGenerator.CreateClient(target.Version, 1);
            await Topology.UntilAsync(async () =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, target.Url) { Version = target.Version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
                if (target.Host is not null)
                {
                    request.Headers.Host = target.Host;
                }

                using var response = await client.SendAsync(request, CancellationToken.None).ConfigureAwait(false);
                return response.IsSuccessStatusCode && (await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false)).Length == Upstream.BodySize;
            }, entry, $"{target.Url} ({target.Protocol}) to answer with the upstream's body").ConfigureAwait(false);
        }
    }
}
