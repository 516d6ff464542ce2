using System.Globalization;
using System.Reflection;
using AspireMesh.Mesh.Bench;

// Data-plane benchmark: see bench/README.md. `upstream <h1-port> <h2-port>` is the mode the bench starts its upstream in.
if (args is ["upstream", var http1, var http2])
{
    return await Upstream.RunAsync(int.Parse(http1, CultureInfo.InvariantCulture), int.Parse(http2, CultureInfo.InvariantCulture));
}

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("""
        dotnet run -c Release --project bench/Mesh.Bench [-- options]
          --quick                   short smoke run (1 s warm-up, 2 s x 1 run), results not written to docs/
          --only a,b                scenario ids to run (direct is always run when latency is compared)
          --protocols h1,h2         protocols (default both)
          --runs N --duration S --warmup S   measured runs per level, seconds per run, seconds of warm-up (default 3, 5, 3)
          --jit-warmup S            full load on freshly started proxies of ours before measuring, split over their entry
                                    points (default 15; 2 with --quick): the tiered JIT's optimized code is what runs later
          --connections N           connections (HTTP/1.1) or streams (HTTP/2) of the closed-loop maximum runs (default 64)
          --max-rate R              cap of the open-loop levels (default 10000/s: the generator shares the cores)
          --proxy-env K=V           environment for the Gateway and sidecars (repeatable, wins over the sidecars' own; e.g. DOTNET_GCgen0size=0: the runtime's default gen0 budget)
          --proxy-io pool|inline|auto  the Gateway's and sidecars' --io (default: theirs, auto); the --io pool scenarios always run pool
          --proxy-arg ARG           one more argument for the Gateway and sidecars (repeatable; e.g. --memory-reclaim-interval=0)
          --aot-sidecar PATH        a Native AOT sidecar executable already published (e.g. with other build options) instead
                                    of publishing one with build/publish-sidecar-aot.sh
          --output DIR              where benchmarks.md's results and benchmarks.svg go (default docs/ of the repository; none with --quick)
        scenarios:
        """ + string.Concat(Scenarios.All.Select(s => $"\n  {s.Id,-22} {s.Path}{(s.Pending is null ? "" : $" ({s.Pending})")}")));
    return 0;
}

var quick = args.Contains("--quick");
string? Value(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
var options = new BenchOptions
{
    Quick = quick,
    Runs = int.Parse(Value("--runs") ?? (quick ? "1" : "3"), CultureInfo.InvariantCulture),
    Duration = TimeSpan.FromSeconds(double.Parse(Value("--duration") ?? (quick ? "2" : "5"), CultureInfo.InvariantCulture)),
    Warmup = TimeSpan.FromSeconds(double.Parse(Value("--warmup") ?? (quick ? "1" : "3"), CultureInfo.InvariantCulture)),
    JitWarmup = TimeSpan.FromSeconds(double.Parse(Value("--jit-warmup") ?? (quick ? "2" : "15"), CultureInfo.InvariantCulture)),
    Connections = int.Parse(Value("--connections") ?? "64", CultureInfo.InvariantCulture),
    MaxRate = double.Parse(Value("--max-rate") ?? "10000", CultureInfo.InvariantCulture),
    Only = Value("--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries) ?? [],
    Protocols = Value("--protocols")?.Split(',', StringSplitOptions.RemoveEmptyEntries) ?? ["h1", "h2"],
    ProxyEnvironment = args.Select((a, i) => (a, i)).Where(x => x.a == "--proxy-env" && x.i + 1 < args.Length)
        .Select(x => args[x.i + 1].Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : ""),
    ProxyIo = Value("--proxy-io"),
    ProxyExtraArguments = args.Select((a, i) => (a, i)).Where(x => x.a == "--proxy-arg" && x.i + 1 < args.Length).Select(x => args[x.i + 1]).ToList(),
    AotSidecar = Value("--aot-sidecar") is { } aot ? Path.GetFullPath(aot) : null,
    Output = Value("--output") ?? (quick ? null : Path.Combine(RepositoryRoot(), "docs")),
    Repository = RepositoryRoot(),
};

var unknown = options.Only.Except(Scenarios.All.Select(s => s.Id)).ToList();
if (unknown.Count > 0)
{
    await Console.Error.WriteLineAsync($"error: --only: unknown scenario(s) {string.Join(", ", unknown)}; known: {string.Join(", ", Scenarios.All.Select(s => s.Id))}");
    return 2;
}

if (options.ProxyIo is not (null or "inline" or "pool" or "auto"))
{
    await Console.Error.WriteLineAsync($"error: --proxy-io takes pool, inline or auto, not '{options.ProxyIo}'.");
    return 2;
}

if (options.AotSidecar is { } aotSidecar && !File.Exists(aotSidecar))
{
    await Console.Error.WriteLineAsync($"error: --aot-sidecar: {aotSidecar} does not exist (build/publish-sidecar-aot.sh OUTPUT_DIR publishes one).");
    return 2;
}

if (options.Protocols.Except(["h1", "h2"]).Any())
{
    await Console.Error.WriteLineAsync("error: --protocols takes h1, h2 or both (h1,h2).");
    return 2;
}

if (Tools.Missing() is { } missing)
{
    await Console.Error.WriteLineAsync($"error: the bench needs Debian's load generators and reference proxies; {missing}");
    return 2;
}

var machine = Machine();
var command = "dotnet run -c Release --project bench/Mesh.Bench" + (args.Length > 0 ? " -- " + string.Join(' ', args) : "");
Runner.Progress($"AspireMesh data-plane benchmark on {machine}");
Runner.Progress("the load generators (this process, wrk, h2load) share the machine's cores with the proxies and the upstream");

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // Stop measuring, then let the finally blocks stop every process the bench started.
    e.Cancel = true;
    cancel.Cancel();
};

await using var topology = await Topology.StartAsync(options);
var selected = Scenarios.All.Where(s => options.Only.Count == 0 || options.Only.Contains(s.Id) || s.Pending is not null).ToList();
var run = new Runner(topology, options).RunAsync(selected);
if (await Task.WhenAny(run, Task.Delay(Timeout.Infinite, cancel.Token).ContinueWith(_ => { }, TaskScheduler.Default)) != run)
{
    Runner.Progress("interrupted: stopping every process the bench started");
    return 130;
}

var results = await run;
var chart = "benchmarks.svg";
var markdown = Report.Markdown(results, machine, command, chart);
Console.WriteLine();
Console.WriteLine(markdown);
if (options.Output is { } output)
{
    Directory.CreateDirectory(output);
    await File.WriteAllTextAsync(Path.Combine(output, chart), Report.Svg(results));
    var doc = Path.Combine(output, "benchmarks.md");
    var existing = File.Exists(doc) ? await File.ReadAllTextAsync(doc) : $"# Benchmarks\n\n{Report.Begin}\n{Report.End}\n";
    var begin = existing.IndexOf(Report.Begin, StringComparison.Ordinal);
    var end = existing.IndexOf(Report.End, StringComparison.Ordinal);
    var updated = begin >= 0 && end > begin
        ? existing[..begin] + markdown + existing[(end + Report.End.Length + 1)..]
        : existing + "\n" + markdown;
    await File.WriteAllTextAsync(doc, updated);
    Runner.Progress($"wrote {doc} and {Path.Combine(output, chart)}");
}

return 0;

static string Machine()
{
    var cpu = File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
        : null;
    var memory = File.Exists("/proc/meminfo")
        ? File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
        : null;
    return $"{Environment.ProcessorCount} cores ({cpu ?? "unknown CPU"}), {memory ?? "? kB"} RAM, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
}

static string RepositoryRoot()
{
    var start = typeof(Runner).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "AspireMesh.ProjectDirectory")?.Value ?? AppContext.BaseDirectory;
    for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "AspireMesh.sln")))
        {
            return dir.FullName;
        }
    }

    return Directory.GetCurrentDirectory();
}
