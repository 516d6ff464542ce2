using System.Globalization;
using System.Text;

namespace AspireMesh.Mesh.Bench;

/// <summary>Writes the results as Markdown tables, a target check and an SVG chart.</summary>
internal static class Report
{
    public const string Begin = "<!-- bench:results:begin -->";
    public const string End = "<!-- bench:results:end -->";

    private static string F(double value, string format = "0") => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>A difference with its sign: +0.123 or -0.123.</summary>
    private static string Signed(string difference) => difference.StartsWith('-') ? difference : $"+{difference}";

    public static string Markdown(IReadOnlyList<ScenarioResult> results, string machine, string command, string chartFile)
    {
        var md = new StringBuilder();
        md.Append(Begin).Append('\n');
        md.Append(CultureInfo.InvariantCulture, $"Generated {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC by `{command}` on {machine}.\n\n");
        md.Append(CultureInfo.InvariantCulture, $"![maximum throughput and added p99 latency per scenario]({chartFile})\n\n");

        md.Append("### Latency at 1000 requests/s (open loop, from the intended send time)\n\n");
        md.Append("| scenario | protocol | p50 ms | p90 ms | p99 ms | p99.9 ms | added p50 | added p90 | added p99 | added p99.9 | achieved req/s | failed | generator send lag p99 ms |\n");
        md.Append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var result in results.Where(r => r.At(Runner.Fixed) is not null))
        {
            var at = result.At(Runner.Fixed)!;
            var direct = results.FirstOrDefault(r => r.Scenario.Id == "direct" && r.Protocol == result.Protocol)?.At(Runner.Fixed);
            md.Append(CultureInfo.InvariantCulture, $"| {result.Scenario.Title} | {Protocol(result)} ");
            foreach (var p in new[] { 50, 90, 99, 99.9 })
            {
                md.Append(CultureInfo.InvariantCulture, $"| {Runner.Ms(at.Latency.ValueAtPercentile(p))} ");
            }

            foreach (var p in new[] { 50, 90, 99, 99.9 })
            {
                md.Append(direct is null || result.Scenario.Id == "direct" ? "| " : $"| {Signed(Runner.Ms(at.Latency.ValueAtPercentile(p) - direct.Latency.ValueAtPercentile(p)))} ");
            }

            md.Append(CultureInfo.InvariantCulture, $"| {F(at.AchievedRate)} | {at.Failed} | {Runner.Ms(at.SendLag.ValueAtPercentile(99))} |\n");
        }

        md.Append("\n### Throughput and cost\n\n");
        md.Append("Maximum: closed loop (wrk / h2load). Latency at 50 % and 75 % of the scenario's own maximum: open loop. CPU, memory and allocations: per process, over the measured runs at 1000 requests/s; unshared: the resident memory no other process maps (with several sidecars of one build on a machine, their code pages are shared).\n\n");
        md.Append("| scenario | protocol | max req/s | vs nginx | p99 ms at 50 % max | p99 ms at 75 % max | process | CPU s / 1000 req | steady RSS MB | of which unshared MB | peak RSS MB | allocated B / req |\n");
        md.Append("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n");
        foreach (var result in results)
        {
            // nginx's HTTP/2 entry is h2c: a TLS entry point is not compared with it.
            var nginx = result.Protocol == "h2" && result.Scenario.Http2OverTls ? null : results.FirstOrDefault(r => r.Scenario.Id == "nginx" && r.Protocol == result.Protocol);
            var costs = result.At(Runner.Fixed)?.Costs ?? [];
            var half = result.At("50% of max");
            var threeQuarters = result.At("75% of max");
            // Measured in alternation with its own nginx: the ratio is to that one.
            var nginxRps = result.Scenario.VersusReference ? result.BaselineMaxRps : nginx?.MaxRps;
            // A scenario driven at 1000 requests/s only has no maximum.
            var maximum = result.Scenario.SteadyOnly ? " | " : $"{F(result.MaxRps)} | {(nginxRps is not { } n ? "" : F(result.MaxRps / n, "0.00") + "x")}";
            var head = $"| {result.Scenario.Title} | {Protocol(result)} | {maximum} | {LevelP99(half)} | {LevelP99(threeQuarters)} ";
            if (costs.Count == 0)
            {
                var peak = result.PeakCosts;
                md.Append(head).Append(CultureInfo.InvariantCulture, $"| {string.Join(", ", peak.Select(p => p.Name))} | | | | {string.Join(", ", peak.Select(p => F(p.PeakRssMb, "0.0")))} | |\n");
                continue;
            }

            foreach (var cost in costs)
            {
                md.Append(cost == costs[0] ? head : "| | | | | | ").Append(CultureInfo.InvariantCulture,
                    $"| {cost.Name} | {F(cost.CpuSecondsPer1000, "0.000")} | {F(cost.SteadyRssMb, "0.0")} | {F(cost.SteadyPrivateMb, "0.0")} | {F(result.PeakCosts.FirstOrDefault(p => p.Name == cost.Name)?.PeakRssMb ?? cost.PeakRssMb, "0.0")} | {(cost.AllocatedBytesPerRequest is { } a ? F(a) : "")} |\n");
            }
        }

        var mtlsRows = results.Where(r => r.Scenario.Id == "sidecars")
            .Select(m => (Mtls: m, Plain: results.FirstOrDefault(p => p.Scenario.Id == "sidecars-plaintext" && p.Protocol == m.Protocol)))
            .Where(pair => pair.Plain is not null && pair.Mtls.At(Runner.Fixed) is not null && pair.Plain.At(Runner.Fixed) is not null)
            .ToList();
        if (mtlsRows.Count > 0)
        {
            md.Append("\n### mTLS versus plaintext between the sidecars\n\nThe same sidecar pair, with the server sidecar taking mTLS (the default) or plaintext (`--inbound-mtls off`). Maximum throughput: both pairs running side by side, measured in alternation (medians of the rounds); latency: the two scenarios' own 1000 requests/s levels.\n\n| protocol | p50 ms mTLS / plaintext | p99 ms mTLS / plaintext | max req/s mTLS / plaintext | throughput cost of mTLS |\n|---|---:|---:|---:|---:|\n");
            foreach (var (mtls, plain) in mtlsRows)
            {
                var m = mtls.At(Runner.Fixed)!;
                var p = plain!.At(Runner.Fixed)!;
                md.Append(CultureInfo.InvariantCulture, $"| {Protocol(mtls.Protocol)} | {Runner.Ms(m.Latency.ValueAtPercentile(50))} / {Runner.Ms(p.Latency.ValueAtPercentile(50))} | {Runner.Ms(m.Latency.ValueAtPercentile(99))} / {Runner.Ms(p.Latency.ValueAtPercentile(99))} | {F(MtlsMax(mtls, plain))} / {F(plain.MaxRps)} | {F((1 - (MtlsMax(mtls, plain) / plain.MaxRps)) * 100, "0.0")} % |\n");
            }
        }

        md.Append("\n### Telemetry on versus off (maximum throughput)\n\nBoth variants run side by side and are measured in alternation (on, off, off, on, ...), so that the machine's drift hits both alike; the medians of the rounds are compared.\n\n| proxy | protocol | on req/s | off req/s | cost |\n|---|---|---:|---:|---:|\n");
        foreach (var (on, off) in TelemetryPairs(results))
        {
            md.Append(CultureInfo.InvariantCulture, $"| {on.Scenario.Title} | {Protocol(on)} | {F(off.BaselineMaxRps!.Value)} | {F(off.MaxRps)} | {F(TelemetryCost(on, off) * 100, "0.0")} % |\n");
        }

        var ioPairs = results.Where(pool => pool.Scenario is { IoComparison: true } && pool.BaselineMaxRps is not null).ToList();
        if (ioPairs.Count > 0)
        {
            md.Append("\n### `--io auto` (the default) versus `--io pool` (maximum throughput)\n\nAuto runs the plain HTTP/1.1 listeners' requests on the socket event threads and hands the others to the thread pool; pool hands every request to it. Both run side by side, measured in alternation; the medians of the rounds are compared.\n\n| proxy | protocol | auto req/s | pool req/s | auto / pool |\n|---|---|---:|---:|---:|\n");
            foreach (var pool in ioPairs)
            {
                var auto = pool.BaselineMaxRps!.Value;
                md.Append(CultureInfo.InvariantCulture, $"| {results.FirstOrDefault(r => r.Scenario.Id == pool.Scenario.Baseline)?.Scenario.Title ?? pool.Scenario.Baseline} | {Protocol(pool)} | {F(auto)} | {F(pool.MaxRps)} | {F(auto / pool.MaxRps, "0.00")}x |\n");
            }
        }

        md.Append("\n### Targets\n\n| target | measured | verdict |\n|---|---|---|\n");
        foreach (var (target, measured, verdict) in Targets(results))
        {
            md.Append(CultureInfo.InvariantCulture, $"| {target} | {measured} | {verdict} |\n");
        }

        md.Append(End).Append('\n');
        return md.ToString();
    }

    /// <summary>The p99 at a level, with the rate it ran at (levels are capped at --max-rate).</summary>
    private static string LevelP99(RateResult? level) => level is null ? "" : $"{Runner.Ms(level.Latency.ValueAtPercentile(99))} @{F(level.TargetRate)}/s";

    private static string Protocol(string protocol) => protocol == "h2" ? "HTTP/2" : "HTTP/1.1";

    /// <summary>The protocol of a scenario's entry point, saying when its HTTP/2 is over TLS (every other HTTP/2 entry is h2c).</summary>
    private static string Protocol(ScenarioResult result) => result.Protocol == "h2" && result.Scenario.Http2OverTls ? "HTTP/2 over TLS" : Protocol(result.Protocol);

    /// <summary>The mTLS pair's maximum: the one measured in alternation with the plaintext pair when there is one.</summary>
    private static double MtlsMax(ScenarioResult mtls, ScenarioResult plain) => plain.BaselineMaxRps ?? mtls.MaxRps;

    /// <summary>
    /// Telemetry-off results, measured interleaved with their telemetry-on twin (see <see cref="ScenarioResult.BaselineMaxRps"/>);
    /// they are the throughput-only scenarios with a baseline (the plaintext sidecar pair has one too, and latency levels).
    /// </summary>
    private static IEnumerable<(ScenarioResult On, ScenarioResult Off)> TelemetryPairs(IReadOnlyList<ScenarioResult> results) =>
        results.Where(off => off.Scenario is { Baseline: not null, ThroughputOnly: true, VersusReference: false, IoComparison: false } && off.BaselineMaxRps is not null)
            .Select(off => (On: results.FirstOrDefault(r => r.Scenario.Id == off.Scenario.Baseline && r.Protocol == off.Protocol) ?? off, Off: off));

    private static double TelemetryCost(ScenarioResult on, ScenarioResult off) => 1 - (off.BaselineMaxRps!.Value / off.MaxRps);

    private static IEnumerable<(string Target, string Measured, string Verdict)> Targets(IReadOnlyList<ScenarioResult> results)
    {
        static string Verdict(bool pass) => pass ? "pass" : "**fail**";
        // The sidecar targets, for the JIT-compiled pair and for the Native AOT one (named in the row).
        static string Build(ScenarioResult pair) => pair.Scenario.Id == "sidecars-aot" ? ", Native AOT" : "";
        foreach (var pair in results.Where(r => r.Scenario.Id is "sidecars" or "sidecars-aot" && r.At(Runner.Fixed) is not null))
        {
            var direct = results.FirstOrDefault(r => r.Scenario.Id == "direct" && r.Protocol == pair.Protocol)?.At(Runner.Fixed);
            if (direct is null)
            {
                continue;
            }

            var added = (pair.At(Runner.Fixed)!.Latency.ValueAtPercentile(99) - direct.Latency.ValueAtPercentile(99)) / 1e6;
            // Below zero, direct's own tail was the slower one: the machine's noise, not a result.
            yield return ($"sidecar pair adds <= 0.5 ms at p99, 1000 req/s, mTLS ({Protocol(pair.Protocol)}{Build(pair)})", $"{Signed(F(added, "0.000"))} ms",
                added < 0 ? $"inconclusive (direct's own p99, {F(direct.Latency.ValueAtPercentile(99) / 1e6, "0.000")} ms, was higher)" : Verdict(added <= 0.5));
        }

        // Read on the alternating rounds when they ran (the machine's drift falls on both alike), else on the two
        // scenarios' separate runs.
        var alternated = results.Where(r => r.Scenario.VersusReference && r.BaselineMaxRps is not null).ToList();
        foreach (var gateway in alternated)
        {
            var ratio = gateway.MaxRps / gateway.BaselineMaxRps!.Value;
            yield return ($"Gateway max throughput >= 0.75x nginx ({Protocol(gateway)})",
                $"{F(ratio, "0.00")}x ({F(gateway.MaxRps)} vs {F(gateway.BaselineMaxRps.Value)} req/s, medians of alternating rounds side by side)", Verdict(ratio >= 0.75));
        }

        foreach (var gateway in alternated.Count > 0 ? [] : results.Where(r => r.Scenario.Id == "gateway" && !(r.Protocol == "h2" && r.Scenario.Http2OverTls)))
        {
            var nginx = results.FirstOrDefault(r => r.Scenario.Id == "nginx" && r.Protocol == gateway.Protocol);
            if (nginx is not null)
            {
                var ratio = gateway.MaxRps / nginx.MaxRps;
                yield return ($"Gateway max throughput >= 0.75x nginx ({Protocol(gateway)})", $"{F(ratio, "0.00")}x ({F(gateway.MaxRps)} vs {F(nginx.MaxRps)} req/s, separate runs)", Verdict(ratio >= 0.75));
            }
        }

        foreach (var (id, build) in new[] { ("sidecars", ""), ("sidecars-aot", " (Native AOT)"), ("sidecars-steady", " (driven at 1000 req/s only)"), ("sidecars-aot-steady", " (Native AOT, driven at 1000 req/s only)") })
        {
            var sidecarCosts = results.Where(r => r.Scenario.Id == id).SelectMany(r => (r.At(Runner.Fixed)?.Costs ?? []).Select(c => (r.Protocol, Cost: c))).ToList();
            if (sidecarCosts.Count > 0)
            {
                var rss = sidecarCosts.Max(c => c.Cost.SteadyRssMb);
                yield return ($"sidecar steady RSS <= 40 MB at 1000 req/s{build}", $"{F(rss, "0.0")} MB (largest of both sidecars, both protocols)", Verdict(rss <= 40));
                var cpu = sidecarCosts.Max(c => c.Cost.CpuSecondsPer1000);
                yield return ($"<= 0.15 CPU s per 1000 requests per sidecar{build}", $"{F(cpu, "0.000")} s (largest of both sidecars, both protocols)", Verdict(cpu <= 0.15));
            }
        }

        foreach (var (on, off) in TelemetryPairs(results))
        {
            var cost = TelemetryCost(on, off);
            yield return ($"telemetry costs <= 10 % of throughput: {on.Scenario.Title} ({Protocol(on)})", $"{F(cost * 100, "0.0")} %", Verdict(cost <= 0.10));
        }
    }

    /// <summary>Two horizontal bar charts: maximum requests/s, and added p99 at 1000 requests/s, per scenario and protocol.</summary>
    public static string Svg(IReadOnlyList<ScenarioResult> results)
    {
        var rows = results.Where(r => !r.Scenario.SteadyOnly).ToList();
        var latencyRows = results.Where(r => r.At(Runner.Fixed) is not null && r.Scenario.Id != "direct").ToList();
        const int label = 250, width = 420, bar = 16, gap = 4, top = 30;
        var height1 = top + (rows.Count * (bar + gap));
        var height2 = top + (latencyRows.Count * (bar + gap));
        var total = height1 + height2 + 30;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{label + width + 90}\" height=\"{total}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        var maxRps = rows.Count == 0 ? 1 : Math.Max(1, rows.Max(r => r.MaxRps));
        svg.Append("<text x=\"4\" y=\"18\" font-weight=\"bold\">Maximum requests/s (closed loop)</text>\n");
        for (var i = 0; i < rows.Count; i++)
        {
            var y = top + (i * (bar + gap));
            var w = rows[i].MaxRps / maxRps * width;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{label - 6}\" y=\"{y + 12}\" text-anchor=\"end\">{Escape(rows[i].Scenario.Title)} {Protocol(rows[i])}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{label}\" y=\"{y}\" width=\"{F(w, "0.0")}\" height=\"{bar}\" fill=\"{(rows[i].Protocol == "h2" ? "#6a8fd0" : "#2b5fa8")}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(label + w + 4, "0.0")}\" y=\"{y + 12}\">{F(rows[i].MaxRps)}</text>\n");
        }

        var direct = rows.Where(r => r.Scenario.Id == "direct").ToDictionary(r => r.Protocol, r => r.At(Runner.Fixed)?.Latency.ValueAtPercentile(99) ?? 0);
        double Added(ScenarioResult r) => Math.Max(0, (r.At(Runner.Fixed)!.Latency.ValueAtPercentile(99) - direct.GetValueOrDefault(r.Protocol)) / 1e6);
        var maxAdded = latencyRows.Count == 0 ? 1 : Math.Max(0.001, latencyRows.Max(Added));
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{height1 + 18}\" font-weight=\"bold\">Added p99 latency vs direct at 1000 requests/s (ms)</text>\n");
        for (var i = 0; i < latencyRows.Count; i++)
        {
            var y = height1 + top + (i * (bar + gap));
            var added = Added(latencyRows[i]);
            var w = added / maxAdded * width;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{label - 6}\" y=\"{y + 12}\" text-anchor=\"end\">{Escape(latencyRows[i].Scenario.Title)} {Protocol(latencyRows[i])}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{label}\" y=\"{y}\" width=\"{F(w, "0.0")}\" height=\"{bar}\" fill=\"{(latencyRows[i].Protocol == "h2" ? "#e0a050" : "#c06000")}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(label + w + 4, "0.0")}\" y=\"{y + 12}\">{F(added, "0.000")}</text>\n");
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
