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
//  2. snapshot computation for a mesh of S services with E endpoints, in process;
//  3. the control plane at rest: its CPU while N simulated proxies each hold a watch and renew their instance's lease
//     every second as a sidecar does, and nothing changes.
var proxies = Arg("--proxies", 200);
var changes = Arg("--changes", 20);
var services = Arg("--services", 1000);
var endpointsPerService = Arg("--endpoints-per-service", 5);

Console.WriteLine($"# Control-plane benchmark ({DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, .NET {Environment.Version})");
Console.WriteLine();
if (!Environment.GetCommandLineArgs().Contains("--rest-only"))
{
    await PropagationAsync(proxies, changes);
    Console.WriteLine();
    SnapshotComputation(services, endpointsPerService);
    Console.WriteLine();
}

await AtRestAsync([0, 2, proxies], Arg("--rest-seconds", 30), Arg("--rest-warmup-seconds", 40));
return 0;

static int Arg(string name, int fallback)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static async Task PropagationAsync(int proxyCount, int changeCount)
{
    await using var controlPlane = await ControlPlaneHost.StartAsync(proxyCount);
    var http = controlPlane.Http;

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

static async Task AtRestAsync(int[] proxyCounts, int seconds, int warmupSeconds)
{
    if (seconds <= 0 || warmupSeconds < 0)
    {
        throw new ArgumentException("--rest-seconds must be positive and --rest-warmup-seconds not negative.");
    }

    // The warm-up covers the JIT's second tier, which recompiles what runs often during the first half minute or so.
    // The simulated proxies register, watch and renew as sidecars do; they report no admin address, so the control
    // plane's stats collection (every 2 s per proxy that has one) is not part of this.
    Console.WriteLine($"## At rest: the control plane's CPU while proxies hold a watch and renew a lease every second ({seconds} s after {warmupSeconds} s of warm-up)");
    Console.WriteLine();
    Console.WriteLine("| proxies | CPU, % of one core | CPU per heartbeat, above the control plane with none | failed calls |");
    Console.WriteLine("|---|---|---|---|");
    double? idleShare = null;
    foreach (var proxyCount in proxyCounts)
    {
        await using var controlPlane = await ControlPlaneHost.StartAsync(proxyCount);
        var http = controlPlane.Http;
        var mesh = new MeshConfig { Services = [.. Enumerable.Range(0, 50).Select(i => new ServiceConfig { Name = $"svc-{i}", References = [$"svc-{(i + 1) % 50}"] })] };
        using (var put = await http.PutAsync("v1/config", new StringContent(JsonSerializer.Serialize(mesh, MeshJsonContext.Default.MeshConfig), Encoding.UTF8, "application/json")))
        {
            put.EnsureSuccessStatusCode();
        }

        var client = new AspireMesh.Contracts.Client.ControlPlaneClient(http);
        var heartbeats = 0L;
        var failures = 0L;
        using var stop = new CancellationTokenSource();

        // One call of a simulated proxy: a failure is counted and waited out (a second), never the end of the proxy.
        async Task<bool> CallAsync(Func<Task> call)
        {
            try
            {
                await call();
                return true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Interlocked.Increment(ref failures);
                await Task.Delay(TimeSpan.FromSeconds(1), stop.Token);
                return false;
            }
        }

        var simulated = Enumerable.Range(0, proxyCount).Select(i => Task.Run(async () =>
        {
            var id = $"bench-{i}";
            var registration = new AspireMesh.Contracts.Registry.InstanceRegistration($"svc-{i % 50}", $"http://127.0.0.2:{10000 + i}", true);
            while (!await CallAsync(() => client.RegisterAsync(id, registration, stop.Token)))
            {
            }

            var watch = Task.Run(async () =>
            {
                var version = 0L;
                while (!stop.IsCancellationRequested)
                {
                    await CallAsync(async () =>
                    {
                        using var response = await http.GetAsync($"v1/watch/sidecar/svc-{i % 50}?proxy={id}&version={version}", stop.Token);
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            version = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.ProxySnapshot, stop.Token))!.Version;
                        }
                        else if (response.StatusCode != HttpStatusCode.NotModified)
                        {
                            // 304 ends a long poll with nothing new; anything else is a failure, not a reason to poll at once.
                            throw new HttpRequestException($"watch answered {(int)response.StatusCode}");
                        }
                    });
                }
            });
            var renew = Task.Run(async () =>
            {
                // Spread over the second, as proxies started at different times are.
                await Task.Delay(TimeSpan.FromMilliseconds(1000.0 * i / Math.Max(1, proxyCount)), stop.Token);
                using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
                while (await timer.WaitForNextTickAsync(stop.Token))
                {
                    await CallAsync(async () =>
                    {
                        if (!await client.HeartbeatAsync(id, new AspireMesh.Contracts.Registry.Heartbeat(true), stop.Token))
                        {
                            await client.RegisterAsync(id, registration, stop.Token);
                        }

                        Interlocked.Increment(ref heartbeats);
                    });
                }
            });
            await Task.WhenAll(watch, renew);
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(warmupSeconds));
        using var measured = Process.GetProcessById(controlPlane.Process.Id);
        var cpuBefore = measured.TotalProcessorTime;
        var heartbeatsBefore = Interlocked.Read(ref heartbeats);
        var failuresBefore = Interlocked.Read(ref failures);
        var started = Stopwatch.GetTimestamp();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        measured.Refresh();
        var cpu = measured.TotalProcessorTime - cpuBefore;
        var elapsed = Stopwatch.GetElapsedTime(started);
        var renewed = Interlocked.Read(ref heartbeats) - heartbeatsBefore;
        var failed = Interlocked.Read(ref failures) - failuresBefore;
        stop.Cancel();
        try
        {
            await Task.WhenAll(simulated);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        var share = cpu / elapsed;
        idleShare ??= proxyCount == 0 ? share : null;
        var perHeartbeat = renewed == 0 || idleShare is not { } idle ? "" : $"{(share - idle) * elapsed.TotalMilliseconds * 1000 / renewed:0} µs ({renewed} heartbeats)";
        Console.WriteLine($"| {proxyCount} | {share * 100:0.00} % | {perHeartbeat} | {failed} |");
    }
}

static double P(List<double> sorted, double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];

/// <summary>A control-plane process on a free loopback port, with an admin client; stopped and its state deleted on dispose.</summary>
internal sealed class ControlPlaneHost : IAsyncDisposable
{
    private const string Token = "bench-token";

    private readonly string _state;

    private ControlPlaneHost(ManagedProcess process, HttpClient http, string state) => (Process, Http, _state) = (process, http, state);

    public ManagedProcess Process { get; }

    public HttpClient Http { get; }

    /// <summary>Starts it and waits (a minute at most) until it answers; <paramref name="connections"/>: how many the client may hold.</summary>
    public static async Task<ControlPlaneHost> StartAsync(int connections)
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

        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var process = await ManagedProcess.StartAsync(new ProcessSpec("dotnet", [dll, "--urls", $"http://127.0.0.1:{port}", "--state-dir", state],
            new Dictionary<string, string> { ["ASPIREMESH_ADMIN_TOKEN"] = Token, ["Logging__LogLevel__Default"] = "Warning" }, Path.GetDirectoryName(dll)),
            (line, isError) =>
            {
                output.Enqueue(line);
                while (output.Count > 40 && output.TryDequeue(out _))
                {
                }
            });
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 2 * connections + 16, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
            Timeout = TimeSpan.FromMinutes(2),
        };
        http.DefaultRequestHeaders.Authorization = new("Bearer", Token);
        try
        {
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;
            while (true)
            {
                if (process.Exited.IsCompleted)
                {
                    throw new InvalidOperationException($"The control plane exited with code {await process.Exited} before it answered:{Environment.NewLine}{string.Join(Environment.NewLine, output)}");
                }

                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new TimeoutException($"The control plane did not answer GET /health within a minute:{Environment.NewLine}{string.Join(Environment.NewLine, output)}");
                }

                try
                {
                    using var health = await http.GetAsync("health");
                    if (health.IsSuccessStatusCode)
                    {
                        return new ControlPlaneHost(process, http, state);
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }

                await Task.Delay(100);
            }
        }
        catch
        {
            await process.DisposeAsync();
            http.Dispose();
            Directory.Delete(state, recursive: true);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        Http.Dispose();
        Directory.Delete(_state, recursive: true);
    }
}
