using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace AspireMesh.Mesh.Bench;

/// <summary>How long and how hard to measure, and which scenarios.</summary>
internal sealed record BenchOptions
{
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Load on freshly started proxies of ours before anything is measured: the JIT compiles their hot paths in tiers
    /// (quick code, instrumented code, then optimized code guided by the profile) on a background thread that competes
    /// with the load for the cores, so their throughput keeps rising for many seconds after start.
    /// </summary>
    public TimeSpan JitWarmup { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);

    public int Runs { get; init; } = 3;

    public int Connections { get; init; } = 64;

    /// <summary>Highest constant rate the open-loop generator is asked for (it shares the cores with what it measures).</summary>
    public double MaxRate { get; init; } = 10_000;

    public bool Quick { get; init; }

    public IReadOnlyList<string> Only { get; init; } = [];

    public IReadOnlyList<string> Protocols { get; init; } = ["h1", "h2"];

    /// <summary>Extra environment for our proxies (GC settings to try, e.g. DOTNET_GCgen0size); they win over the sidecars' own.</summary>
    public IReadOnlyDictionary<string, string> ProxyEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>The proxies' <c>--io</c> (pool, inline or auto); null leaves their default.</summary>
    public string? ProxyIo { get; init; }

    /// <summary>More arguments for our proxies (<c>--proxy-arg</c>, e.g. <c>--memory-reclaim-interval=0</c>).</summary>
    public IReadOnlyList<string> ProxyExtraArguments { get; init; } = [];

    /// <summary>A published Native AOT sidecar to run (<c>--aot-sidecar</c>); null publishes one per bench run.</summary>
    public string? AotSidecar { get; init; }

    public string? Output { get; init; }

    /// <summary>The repository's root folder (its build/ scripts publish the Native AOT sidecar).</summary>
    public string Repository { get; init; } = Directory.GetCurrentDirectory();
}

/// <summary>Cost of one process over the measured runs at one rate.</summary>
internal sealed record ProcessCost(string Name, double CpuSecondsPer1000, double SteadyRssMb, double PeakRssMb, double? AllocatedBytesPerRequest, int Gen0, int Gen1, int Gen2)
{
    /// <summary>The part of <see cref="SteadyRssMb"/> no other process shares (see <see cref="ProcessStats.PrivateBytes"/>).</summary>
    public double SteadyPrivateMb { get; init; }
}

/// <summary>One constant-rate level of a scenario: merged latency over the runs and what the processes spent.</summary>
internal sealed record RateResult(string Label, double TargetRate, double AchievedRate, long Failed, Histogram Latency, IReadOnlyList<ProcessCost> Costs)
{
    /// <summary>How late the generator's pacer fired sends (its own saturation; included in <see cref="Latency"/>).</summary>
    public Histogram SendLag { get; init; } = new();
}

/// <summary>All a scenario measured over one protocol.</summary>
internal sealed record ScenarioResult(Scenario Scenario, string Protocol, double MaxRps, long MaxFailed, IReadOnlyList<RateResult> Rates, IReadOnlyList<ProcessCost> PeakCosts)
{
    /// <summary>The baseline's maximum, measured in alternation with this scenario's (null without a baseline).</summary>
    public double? BaselineMaxRps { get; init; }

    public RateResult? At(string label) => Rates.FirstOrDefault(r => r.Label == label);
}

/// <summary>Runs every scenario over every protocol: maximum throughput first, then the constant rates derived from it.</summary>
internal sealed class Runner(Topology topology, BenchOptions options)
{
    public const string Fixed = "1000 rps";

    public async Task<List<ScenarioResult>> RunAsync(IEnumerable<Scenario> scenarios)
    {
        var results = new List<ScenarioResult>();
        foreach (var scenario in scenarios)
        {
            if (scenario.Pending is not null)
            {
                Progress($"{scenario.Id}: skipped ({scenario.Pending})");
                continue;
            }

            Progress($"{scenario.Id}: starting ({scenario.Path})");
            await using var running = await scenario.StartAsync(topology).ConfigureAwait(false);
            await using var baseline = scenario.StartBaselineAsync is { } startBaseline ? await startBaseline(topology).ConfigureAwait(false) : null;
            if (scenario.OurProxies && options.JitWarmup > TimeSpan.Zero && !scenario.SteadyOnly)
            {
                await WarmUpJitAsync(scenario, running, baseline).ConfigureAwait(false);
            }

            foreach (var protocol in options.Protocols)
            {
                if ((protocol == "h2" ? running.Http2 : running.Http1) is not { } target)
                {
                    Progress($"{scenario.Id} {protocol}: not offered by the entry proxy (h2c), skipped");
                    continue;
                }

                if (scenario.VersusReference && protocol == "h2")
                {
                    Progress($"{scenario.Id} {protocol}: skipped (the Gateway's HTTP/2 is over TLS, nginx's h2c: not the same protocol)");
                    continue;
                }

                results.Add(scenario.SteadyOnly ? await RunSteadyAsync(scenario, running, target).ConfigureAwait(false)
                    : baseline is not null && (protocol == "h2" ? baseline.Http2 : baseline.Http1) is { } baselineTarget
                    ? await RunAlternatingAsync(scenario, running, target, baselineTarget).ConfigureAwait(false)
                    : await RunProtocolAsync(scenario, running, target).ConfigureAwait(false));
            }
        }

        return results;
    }

    /// <summary>
    /// Drives every entry point (both protocols, the baseline's too) at full load until the proxies run their
    /// optimized code; what follows measures the steady state a long-running proxy is in.
    /// </summary>
    private async Task WarmUpJitAsync(Scenario scenario, RunningScenario running, RunningScenario? baseline)
    {
        // A reference proxy beside ours (nginx) has no JIT to warm up: the time goes to ours.
        var targets = new[] { running, scenario.VersusReference ? null : baseline }.OfType<RunningScenario>()
            .SelectMany(r => options.Protocols.Select(p => p == "h2" ? r.Http2 : r.Http1)).OfType<LoadTarget>().ToList();
        var seconds = (int)Math.Max(1, Math.Ceiling(options.JitWarmup.TotalSeconds / targets.Count));
        Progress($"{scenario.Id}: warming up (tiered JIT; Native AOT proxies get the same load history): {targets.Count} x {seconds} s at full load");
        foreach (var target in targets)
        {
            await Tools.MaxThroughputAsync(target, seconds, options.Connections).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Maximum throughput of a scenario and its baseline, both running, measured in alternation so that the machine's
    /// drift (other load, thermal, the generator) falls on both alike; compared by their medians.
    /// </summary>
    private async Task<ScenarioResult> RunAlternatingAsync(Scenario scenario, RunningScenario running, LoadTarget target, LoadTarget baseline)
    {
        var seconds = (int)Math.Max(1, options.Duration.TotalSeconds);
        var warmup = (int)Math.Max(1, options.Warmup.TotalSeconds);
        // Two alternating warm-up rounds each: freshly started proxies are still compiling their hot paths (tiered JIT)
        // and opening connections, which would otherwise fall on the first measured rounds.
        for (var round = 0; round < 2; round++)
        {
            await Tools.MaxThroughputAsync(baseline, Math.Max(warmup, 3), options.Connections).ConfigureAwait(false);
            await Tools.MaxThroughputAsync(target, Math.Max(warmup, 3), options.Connections).ConfigureAwait(false);
        }

        var mine = new List<double>();
        var theirs = new List<double>();
        double failed = 0;
        var rounds = Math.Max(6, options.Runs);
        for (var round = 0; round < rounds; round++)
        {
            // ABBA order (baseline first in even rounds, second in odd ones): a steady drift of the machine's speed favours
            // neither side.
            (double Rps, long Total, long Errors) first, second;
            if (round % 2 == 0)
            {
                first = await Tools.MaxThroughputAsync(baseline, seconds, options.Connections).ConfigureAwait(false);
                second = await Tools.MaxThroughputAsync(target, seconds, options.Connections).ConfigureAwait(false);
            }
            else
            {
                second = await Tools.MaxThroughputAsync(target, seconds, options.Connections).ConfigureAwait(false);
                first = await Tools.MaxThroughputAsync(baseline, seconds, options.Connections).ConfigureAwait(false);
            }

            var (baselineRps, _, baselineErrors) = first;
            var (rps, _, errors) = second;
            theirs.Add(baselineRps);
            mine.Add(rps);
            failed += errors + baselineErrors;
            Progress($"{scenario.Id} {target.Protocol}: round {round + 1}/{rounds}: {scenario.Baseline} {baselineRps:0} req/s, {scenario.Id} {rps:0} req/s");
        }

        // Medians: one round disturbed by something else on the machine does not decide the comparison.
        var max = Median(mine);
        var rates = scenario.ThroughputOnly ? [] : await RunLevelsAsync(scenario, running, target, max).ConfigureAwait(false);
        var peak = running.Proxies.Select(p => new ProcessCost(p.Name, 0, 0, ProcessStats.PeakRssBytes(p.Pid) / 1048576.0, null, 0, 0, 0)).ToList();
        return new ScenarioResult(scenario, target.Protocol, max, (long)failed, rates, peak) { BaselineMaxRps = Median(theirs) };
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private async Task<ScenarioResult> RunProtocolAsync(Scenario scenario, RunningScenario running, LoadTarget target)
    {
        var seconds = (int)Math.Max(1, options.Duration.TotalSeconds);
        await Tools.MaxThroughputAsync(target, (int)Math.Max(1, options.Warmup.TotalSeconds), options.Connections).ConfigureAwait(false);
        double requests = 0, failed = 0;
        for (var run = 0; run < options.Runs; run++)
        {
            var (rps, total, errors) = await Tools.MaxThroughputAsync(target, seconds, options.Connections).ConfigureAwait(false);
            requests += rps * seconds;
            failed += errors;
            Progress($"{scenario.Id} {target.Protocol}: max run {run + 1}/{options.Runs}: {rps:0} req/s ({errors} failed of {total})");
        }

        var max = requests / (seconds * options.Runs);
        var rates = scenario.ThroughputOnly ? [] : await RunLevelsAsync(scenario, running, target, max).ConfigureAwait(false);
        var peak = running.Proxies.Select(p => new ProcessCost(p.Name, 0, 0, ProcessStats.PeakRssBytes(p.Pid) / 1048576.0, null, 0, 0, 0)).ToList();
        return new ScenarioResult(scenario, target.Protocol, max, (long)failed, rates, peak);
    }

    /// <summary>
    /// A <see cref="Scenario.SteadyOnly"/> scenario: warmed up at 1000 requests/s for as long as the others are at full
    /// load (long enough for the tiered JIT's hot methods at that rate), then measured at that rate; no maximum.
    /// </summary>
    private async Task<ScenarioResult> RunSteadyAsync(Scenario scenario, RunningScenario running, LoadTarget target)
    {
        var warmup = options.JitWarmup > options.Warmup ? options.JitWarmup : options.Warmup;
        Progress($"{scenario.Id} {target.Protocol}: warming up at 1000 requests/s for {warmup.TotalSeconds:0} s");
        using (var client = OpenLoopGenerator.CreateClient(target.Version, 1024))
        {
            await OpenLoopGenerator.RunAsync(client, target, 1000, warmup, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }

        var rate = await RunRateAsync(scenario, running, target, Fixed, 1000).ConfigureAwait(false);
        var peak = running.Proxies.Select(p => new ProcessCost(p.Name, 0, 0, ProcessStats.PeakRssBytes(p.Pid) / 1048576.0, null, 0, 0, 0)).ToList();
        return new ScenarioResult(scenario, target.Protocol, 0, 0, [rate], peak);
    }

    /// <summary>The constant-rate levels: 1000 requests/s, and 50 % and 75 % of the scenario's maximum.</summary>
    private async Task<List<RateResult>> RunLevelsAsync(Scenario scenario, RunningScenario running, LoadTarget target, double max)
    {
        var rates = new List<RateResult>();
        foreach (var (label, rate) in new[] { (Fixed, 1000.0), ("50% of max", max * 0.5), ("75% of max", max * 0.75) })
        {
            // Above MaxRate the in-process generator itself saturates on a small machine; the level is then capped (and marked).
            rates.Add(await RunRateAsync(scenario, running, target, label, Math.Clamp(rate, 100, options.MaxRate)).ConfigureAwait(false));
        }

        return rates;
    }

    private async Task<RateResult> RunRateAsync(Scenario scenario, RunningScenario running, LoadTarget target, string label, double rate)
    {
        using var client = OpenLoopGenerator.CreateClient(target.Version, 1024);
        var drain = TimeSpan.FromSeconds(5);
        await OpenLoopGenerator.RunAsync(client, target, rate, options.Warmup, drain).ConfigureAwait(false);
        var merged = new Histogram();
        var sendLag = new Histogram();
        long succeeded = 0, failedTotal = 0;
        var elapsed = TimeSpan.Zero;
        var processes = running.Proxies;
        var cpuBefore = processes.Select(p => ProcessStats.CpuSeconds(p.Pid)).ToArray();
        var runtimeBefore = await Task.WhenAll(processes.Select(RuntimeAsync)).ConfigureAwait(false);
        var rss = processes.Select(_ => new List<long>()).ToArray();
        var unshared = processes.Select(_ => new List<long>()).ToArray();
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
            for (var tick = 0; await timer.WaitForNextTickAsync(sampling.Token).ConfigureAwait(false); tick++)
            {
                for (var i = 0; i < processes.Count; i++)
                {
                    rss[i].Add(ProcessStats.RssBytes(processes[i].Pid));
                    // smaps_rollup walks the process's page tables: once a second is enough, and lighter on the proxy.
                    if (tick % 4 == 0)
                    {
                        unshared[i].Add(ProcessStats.PrivateBytes(processes[i].Pid));
                    }
                }
            }
        });
        for (var run = 0; run < options.Runs; run++)
        {
            var result = await OpenLoopGenerator.RunAsync(client, target, rate, options.Duration, drain).ConfigureAwait(false);
            merged.Merge(result.Latency);
            succeeded += result.Succeeded;
            failedTotal += result.Failed;
            elapsed += result.Duration;
            sendLag.Merge(result.SendLag);
            Progress($"{scenario.Id} {target.Protocol}: {label} ({rate:0}/s) run {run + 1}/{options.Runs}: p50 {Ms(result.Latency.ValueAtPercentile(50))} p99 {Ms(result.Latency.ValueAtPercentile(99))} ms, {result.AchievedRate:0}/s, {result.Failed} failed, generator send lag p99 {Ms(result.SendLag.ValueAtPercentile(99))} ms");
        }

        await sampling.CancelAsync().ConfigureAwait(false);
        try
        {
            await sampler.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        var runtimeAfter = await Task.WhenAll(processes.Select(RuntimeAsync)).ConfigureAwait(false);
        var costs = processes.Select((p, i) =>
        {
            var cpu = ProcessStats.CpuSeconds(p.Pid) - cpuBefore[i];
            double? allocated = runtimeBefore[i] is { } before && runtimeAfter[i] is { } after ? (after.Allocated - before.Allocated) / (double)Math.Max(1, succeeded) : null;
            return new ProcessCost(p.Name, cpu / Math.Max(1, succeeded) * 1000, rss[i].Count == 0 ? 0 : rss[i].Average() / 1048576.0, ProcessStats.PeakRssBytes(p.Pid) / 1048576.0, allocated,
                (runtimeAfter[i]?.Gen0 ?? 0) - (runtimeBefore[i]?.Gen0 ?? 0), (runtimeAfter[i]?.Gen1 ?? 0) - (runtimeBefore[i]?.Gen1 ?? 0), (runtimeAfter[i]?.Gen2 ?? 0) - (runtimeBefore[i]?.Gen2 ?? 0))
            {
                SteadyPrivateMb = unshared[i].Count == 0 ? 0 : unshared[i].Average() / 1048576.0,
            };
        }).ToList();
        return new RateResult(label, rate, succeeded / elapsed.TotalSeconds, failedTotal, merged, costs) { SendLag = sendLag };
    }

    private sealed record Runtime(long Allocated, int Gen0, int Gen1, int Gen2);

    private static readonly HttpClient AdminClient = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Our proxies' runtime counters (<c>/debug/runtime</c> on their admin listener); null for other processes.</summary>
    private static async Task<Runtime?> RuntimeAsync(BenchProcess process)
    {
        if (process.Admin is null)
        {
            return null;
        }

        using var document = JsonDocument.Parse(await AdminClient.GetStringAsync(new Uri(process.Admin, "debug/runtime")).ConfigureAwait(false));
        var root = document.RootElement;
        return new Runtime(root.GetProperty("allocatedBytes").GetInt64(), root.GetProperty("gen0").GetInt32(), root.GetProperty("gen1").GetInt32(), root.GetProperty("gen2").GetInt32());
    }

    public static string Ms(long nanoseconds) => (nanoseconds / 1e6).ToString("0.000", CultureInfo.InvariantCulture);

    public static void Progress(string line) => Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");

    public static Stopwatch Clock { get; } = Stopwatch.StartNew();
}
