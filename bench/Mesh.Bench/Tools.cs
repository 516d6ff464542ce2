using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace AspireMesh.Mesh.Bench;

/// <summary>The Debian tools the bench needs: wrk and h2load (maximum throughput), nginx and HAProxy (reference proxies).</summary>
internal static partial class Tools
{
    public static string Wrk => Find("wrk");

    public static string H2load => Find("h2load");

    public static string Nginx => Find("nginx");

    public static string Haproxy => Find("haproxy");

    /// <summary>The names of missing tools, with the command that installs them.</summary>
    public static string? Missing()
    {
        var missing = new[] { ("wrk", "wrk"), ("h2load", "nghttp2-client"), ("nginx", "nginx-light"), ("haproxy", "haproxy") }
            .Where(t => TryFind(t.Item1) is null).ToList();
        return missing.Count == 0
            ? null
            : $"missing: {string.Join(", ", missing.Select(m => m.Item1))}. Install with: apt-get install -y {string.Join(' ', missing.Select(m => m.Item2))}";
    }

    private static string Find(string name) => TryFind(name) ?? throw new InvalidOperationException(Missing());

    private static string? TryFind(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Append("/usr/bin")
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    /// <summary>
    /// Closed-loop maximum throughput: wrk (HTTP/1.1, one thread, <paramref name="connections"/> connections) or
    /// h2load (HTTP/2 prior knowledge, one thread, 8 connections x <paramref name="connections"/>/8 streams) for
    /// <paramref name="seconds"/> s after a 1 s warm-up. Returns successful requests per second.
    /// </summary>
    public static async Task<(double Rps, long Requests, long Failed)> MaxThroughputAsync(LoadTarget target, int seconds, int connections)
    {
        string file;
        List<string> args;
        if (target.Protocol == "h1")
        {
            file = Wrk;
            args = ["-t1", $"-c{connections}", $"-d{seconds}s", "--timeout", "5s"];
            if (target.Host is not null)
            {
                args.AddRange(["-H", $"Host: {target.Host}"]);
            }
        }
        else
        {
            file = H2load;
            var clients = Math.Min(8, connections);
            args = ["-t1", $"-c{clients}", $"-m{Math.Max(1, connections / clients)}", $"-D{seconds}", "--warm-up-time=1"];
            if (target.Host is not null)
            {
                args.AddRange(["-H", $":authority: {target.Host}"]);
            }
        }

        args.Add(target.Url.ToString());
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        var text = await output.ConfigureAwait(false) + await errors.ConfigureAwait(false);
        if (target.Protocol == "h1")
        {
            var rps = WrkRate().Match(text);
            var total = WrkTotal().Match(text);
            var non2xx = WrkNon2xx().Match(text);
            var socketErrors = WrkSocketErrors().Match(text);
            if (!rps.Success || !total.Success)
            {
                throw new InvalidOperationException($"wrk printed no result ({file} {string.Join(' ', args)}):\n{text}");
            }

            var failed = (non2xx.Success ? long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture) : 0)
                + (socketErrors.Success ? socketErrors.Groups.Values.Skip(1).Sum(g => long.Parse(g.Value, CultureInfo.InvariantCulture)) : 0);
            var requests = long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture);
            return ((requests - failed) / double.Parse(total.Groups[2].Value, CultureInfo.InvariantCulture), requests, failed);
        }
        else
        {
            var summary = H2loadRequests().Match(text);
            var finished = H2loadFinished().Match(text);
            var status = H2loadStatus().Match(text);
            if (!summary.Success || !finished.Success)
            {
                throw new InvalidOperationException($"h2load printed no result ({file} {string.Join(' ', args)}):\n{text}");
            }

            var done = long.Parse(summary.Groups[2].Value, CultureInfo.InvariantCulture);
            var ok = status.Success ? long.Parse(status.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
            var elapsed = double.Parse(finished.Groups[1].Value, CultureInfo.InvariantCulture) * (finished.Groups[2].Value == "ms" ? 0.001 : 1);
            // A stream answered just as the duration ran out can be counted in the status codes but not as done.
            return (ok / elapsed, done, Math.Max(0, done - ok));
        }
    }

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex WrkRate();

    [GeneratedRegex(@"(\d+) requests in ([0-9.]+)s")]
    private static partial Regex WrkTotal();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex WrkNon2xx();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex WrkSocketErrors();

    [GeneratedRegex(@"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded")]
    private static partial Regex H2loadRequests();

    [GeneratedRegex(@"finished in ([0-9.]+)(s|ms)")]
    private static partial Regex H2loadFinished();

    [GeneratedRegex(@"status codes: (\d+) 2xx")]
    private static partial Regex H2loadStatus();
}
