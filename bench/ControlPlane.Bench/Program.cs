using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Net.Http.Json;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.Snapshots;
using AspireMesh.ControlPlane.State;
using AspireMesh.Hosting.Processes;

// Control-plane scale benchmark. Measures, on this machine:
//  1. propagation: N simulated proxies long-poll a real control-plane process; for each of M config changes, the
//     time from just before the PUT is sent until each proxy holds a snapshot of the new config version;
//  2. snapshot computation for a mesh of S services with E endpoints, in process.
var proxies = Arg("--proxies", 200);
var changes = Arg("--changes", 20);
var services = Arg("--services", 1000);
var endpointsPerService = Arg("--endpoints-per-service", 5);

Console.WriteLine($"# Control-plane benchmark ({DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, .NET {Environment.Version})");
Console.WriteLine();
await PropagationAsync(proxies, changes);
Console.WriteLine();
SnapshotComputation(services, endpointsPerService);
return 0;

static int Arg(string name, int fallback)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static async Task PropagationAsync(int proxyCount, int changeCount)
{
    var dll = Assembly.GetExecutingAssembly().GetCustomAttributes<AssemblyMetadataAttribute>()
        .Where(a => a.Key == "AspireMesh.Project").Select(a => a.Value!.Split('|')[1]).Single(p => p.EndsWith("AspireMesh.ControlPlane.dll", StringComparison.Ordinal));
    var state = Directory.CreateTempSubdirectory("aspiremesh-bench-").FullName;
    int port;
    using (var probe = new TcpListener(IPAddress.Loopback, 0))
    {
        probe.Start();
        port = ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    const string token = "bench-token";
    await using var process = await ManagedProcess.StartAsync(new ProcessSpec("dotnet", [dll, "--urls", $"http://127.0.0.1:{port}", "--state-dir", state],
        new Dictionary<string, string> { ["ASPIREMESH_ADMIN_TOKEN"] = token, ["Logging__LogLevel__Default"] = "Warning" }, Path.GetDirectoryName(dll)), (_, _) => { });
    using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = proxyCount + 16, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
    using var http = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(2) };
    http.DefaultRequestHeaders.Authorization = new("Bearer", token);
    for (var ready = false; !ready;)
    {
        try
        {
            ready = (await http.GetAsync("health")).IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            await Task.Delay(100);
        }
    }

    const int serviceCount = 50;
    string Config(int change) => JsonSerializer.Serialize(new MeshConfig
    {
        Services = [.. Enumerable.Range(0, serviceCount).Select(i => new ServiceConfig { Name = $"svc-{i}", References = [$"svc-{(i + 1) % serviceCount}", $"svc-{(i + 2) % serviceCount}"] })],
        Routes = [new HttpRouteConfig
        {
            Name = "web",
            ParentRefs = [new() { Name = "gateway" }],
            Rules = [new() { Matches = [new() { Path = new() { Value = $"/change-{change}" } }], BackendRefs = [new() { Name = "svc-0" }] }],
        }],
    }, MeshJsonContext.Default.MeshConfig);

    await http.PutAsync("v1/config", new StringContent(Config(0), Encoding.UTF8, "application/json"));
    var received = new Dictionary<long, long>[proxyCount];
    using var stop = new CancellationTokenSource();
    var watchers = Enumerable.Range(0, proxyCount).Select(i => Task.Run(async () =>
    {
        received[i] = [];
        var version = 0L;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var response = await http.GetAsync($"v1/watch/sidecar/svc-{i % serviceCount}?proxy=bench-{i}&version={version}", stop.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    var snapshot = await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.ProxySnapshot, stop.Token);
                    var at = Stopwatch.GetTimestamp();
                    version = snapshot!.Version;
                    lock (received[i])
                    {
                        received[i].TryAdd(snapshot.ConfigVersion, at);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    })).ToArray();

    async Task WaitAllHold(long configVersion)
    {
        while (received.Any(r => r is null || !HasVersion(r, configVersion)))
        {
            await Task.Delay(20);
        }
    }

    await WaitAllHold(1);
    var latencies = new List<double>();
    for (var change = 1; change <= changeCount; change++)
    {
        var sent = Stopwatch.GetTimestamp();
        using var put = await http.PutAsync("v1/config", new StringContent(Config(change), Encoding.UTF8, "application/json"));
        var written = await put.Content.ReadFromJsonAsync(MeshJsonContext.Default.ConfigWriteResult);
        await WaitAllHold(written!.Version);
        latencies.AddRange(received.Select(r =>
        {
            lock (r)
            {
                return Stopwatch.GetElapsedTime(sent, r[written.Version]).TotalMilliseconds;
            }
        }));
    }

    stop.Cancel();
    await Task.WhenAll(watchers);
    latencies.Sort();
    Console.WriteLine($"## Config propagation: {proxyCount} watching proxies, {changeCount} config changes ({latencies.Count} deliveries)");
    Console.WriteLine();
    Console.WriteLine("| p50 | p90 | p99 | max |");
    Console.WriteLine("|---|---|---|---|");
    Console.WriteLine($"| {P(latencies, 0.50):0.0} ms | {P(latencies, 0.90):0.0} ms | {P(latencies, 0.99):0.0} ms | {latencies[^1]:0.0} ms |");
    Directory.Delete(state, recursive: true);

    static bool HasVersion(Dictionary<long, long> r, long version)
    {
        lock (r)
        {
            return r.ContainsKey(version);
        }
    }
}

static void SnapshotComputation(int serviceCount, int endpointsPerService)
{
    var now = DateTimeOffset.UtcNow;
    var config = new MeshConfig
    {
        Services = [.. Enumerable.Range(0, serviceCount).Select(i => new ServiceConfig
        {
            Name = $"svc-{i}",
            References = [.. Enumerable.Range(1, 5).Select(k => $"svc-{(i + k) % serviceCount}")],
        })],
        Routes = [.. Enumerable.Range(0, serviceCount / 10).Select(i => new HttpRouteConfig
        {
            Name = $"route-{i}",
            ParentRefs = [new() { Name = "gateway" }],
            Rules = [new() { Matches = [new() { Path = new() { Value = $"/api/{i}" } }], BackendRefs = [new() { Name = $"svc-{i}" }] }],
        })],
    };
    var instances = Enumerable.Range(0, serviceCount * endpointsPerService)
        .Select(i => new RegisteredInstance($"svc-{i / endpointsPerService}-{i % endpointsPerService}", $"svc-{i / endpointsPerService}",
            $"http://10.0.{i / 250}.{i % 250}:8080", true, now, now, now.AddSeconds(10)))
        .ToList();

    double Measure(Action action, int runs)
    {
        action();
        var samples = new List<double>();
        for (var r = 0; r < runs; r++)
        {
            var start = Stopwatch.GetTimestamp();
            action();
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        samples.Sort();
        return samples[samples.Count / 2];
    }

    MeshState state = null!;
    var build = Measure(() => state = new MeshState(1, config, instances, 1), 20);
    var validate = Measure(() => MeshConfigValidator.Validate(config), 20);
    var sidecars = Measure(() =>
    {
        for (var i = 0; i < serviceCount; i++)
        {
            _ = SnapshotGenerator.ForSidecar(state, $"svc-{i}");
        }
    }, 10);
    var gateway = Measure(() => SnapshotGenerator.ForGateway(state, "gateway"), 20);
    var bytes = JsonSerializer.SerializeToUtf8Bytes(SnapshotGenerator.ForSidecar(state, "svc-0"), MeshJsonContext.Default.ProxySnapshot).Length;

    Console.WriteLine($"## Snapshot computation: {serviceCount} services, {instances.Count} endpoints, {config.Routes.Count} gateway routes (median of runs)");
    Console.WriteLine();
    Console.WriteLine("| step | time |");
    Console.WriteLine("|---|---|");
    Console.WriteLine($"| validate the whole config | {validate:0.00} ms |");
    Console.WriteLine($"| build the immutable mesh state (index instances by service) | {build:0.00} ms |");
    Console.WriteLine($"| all {serviceCount} sidecar snapshots (5 referenced services each) | {sidecars:0.00} ms ({sidecars * 1000 / serviceCount:0.0} µs each, {bytes} bytes of JSON each) |");
    Console.WriteLine($"| the gateway snapshot ({config.Routes.Count} routes) | {gateway:0.00} ms |");
}

static double P(List<double> sorted, double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
