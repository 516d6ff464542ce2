using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;
using AspireMesh.Contracts.Telemetry;

namespace AspireMesh.Cli;

/// <summary>What each command does: calls the control plane's API and writes a plain-text answer. Exit codes: 0 fine, 1 a problem found or refused, 2 the control plane unreachable.</summary>
internal static class Commands
{
    private const int Unreachable = 2;

    /// <summary>What the control plane's certificate is trusted by (set once, from the environment, before any command runs).</summary>
    public static AspireMesh.Contracts.Client.ControlPlaneTrust Trust { get; set; } = new(null);

    private static HttpClient Client(Uri controlPlane, string? token = null)
    {
        var http = Trust.CreateClient(controlPlane, TimeSpan.FromSeconds(15));
        token ??= Environment.GetEnvironmentVariable("ASPIREMESH_ADMIN_TOKEN");
        if (!string.IsNullOrEmpty(token))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    private static async Task<int> UnreachableAsync(TextWriter output, Uri controlPlane, Exception ex)
    {
        await output.WriteLineAsync($"error: the control plane at {controlPlane} is unreachable: {ex.Message}").ConfigureAwait(false);
        return Unreachable;
    }

    public static async Task<int> StatAsync(Uri controlPlane, string window, TextWriter output, CancellationToken cancellationToken)
    {
        using var http = Client(controlPlane);
        MeshStats? stats;
        try
        {
            stats = await http.GetFromJsonAsync($"v1/stats?window={Uri.EscapeDataString(window)}", MeshJsonContext.Tolerant.MeshStats, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            return await UnreachableAsync(output, controlPlane, ex).ConfigureAwait(false);
        }

        await output.WriteLineAsync($"Golden metrics over the last {stats!.WindowSeconds:0.#} s").ConfigureAwait(false);
        await WriteTableAsync(output, "SERVICE", stats.Services).ConfigureAwait(false);
        await WriteTableAsync(output, "EDGE", stats.Edges).ConfigureAwait(false);
        await WriteTableAsync(output, "ROUTE", stats.Routes).ConfigureAwait(false);
        return 0;
    }

    private static async Task WriteTableAsync(TextWriter output, string title, IReadOnlyList<GoldenMetrics> rows)
    {
        await output.WriteLineAsync().ConfigureAwait(false);
        if (rows.Count == 0)
        {
            await output.WriteLineAsync($"{title}: no requests in the window").ConfigureAwait(false);
            return;
        }

        await Table.WriteAsync(output, [title, "RPS", "SUCCESS", "P50", "P95", "P99", "RETRIES/S"],
            [.. rows.Select(r => new[] { r.Name, $"{r.RequestsPerSecond:0.##}", Percent(r.SuccessRate), Ms(r.P50Ms), Ms(r.P95Ms), Ms(r.P99Ms), $"{r.Retries:0.##}" })]).ConfigureAwait(false);
    }

    private static string Percent(double? rate) => rate is { } r ? r.ToString("0.00%", CultureInfo.InvariantCulture) : "-";

    private static string Ms(double? ms) => ms is { } m ? $"{m:0.#}ms" : "-";

    public static async Task<int> TapAsync(Uri controlPlane, string query, int max, TextWriter output, CancellationToken cancellationToken)
    {
        using var http = Client(controlPlane);
        http.Timeout = Timeout.InfiniteTimeSpan;
        try
        {
            using var response = await http.GetAsync($"v1/tap{query}", HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync($"tapping {controlPlane}v1/tap{query} (Ctrl+C to stop)").ConfigureAwait(false);
            var seen = 0;
            await foreach (var e in TapStream.ReadAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false))
            {
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{e.At:HH:mm:ss.fff} {e.Proxy} {e.Direction} {e.Method} {e.Authority}{e.Path} {e.Status} {e.LatencyMs:0.0}ms src={e.Source} dst={e.Destination} endpoint={e.Endpoint}{(e.MeshError.Length > 0 ? $" mesh_error={e.MeshError}" : "")}")).ConfigureAwait(false);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (max > 0 && ++seen >= max)
                {
                    return 0;
                }
            }

            if (!cancellationToken.IsCancellationRequested)
            {
                await output.WriteLineAsync($"the control plane at {controlPlane} ended the tap (it is stopping)").ConfigureAwait(false);
                return 1;
            }
        }
        catch (HttpRequestException ex)
        {
            return await UnreachableAsync(output, controlPlane, ex).ConfigureAwait(false);
        }
        catch (IOException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The connection was cut mid-stream (the control plane died, or the network between).
            await output.WriteLineAsync($"the tap from the control plane at {controlPlane} was cut: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        return 0;
    }

    public static async Task<int> TopAsync(Uri controlPlane, string query, string duration, bool once, TextWriter output, CancellationToken cancellationToken)
    {
        if (!MeshDuration.TryParse(duration, out var span) || span <= TimeSpan.Zero)
        {
            await output.WriteLineAsync($"error: --duration '{duration}' is not a duration such as 5s.").ConfigureAwait(false);
            return 1;
        }

        using var http = Client(controlPlane);
        http.Timeout = Timeout.InfiniteTimeSpan;
        do
        {
            var seen = new List<TapEvent>();
            using var round = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            round.CancelAfter(span);
            try
            {
                // Only the proxies that answer the app's calls (outbound, ingress): each request is counted once.
                using var response = await http.GetAsync($"v1/tap{query}", HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                await foreach (var e in TapStream.ReadAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), round.Token).ConfigureAwait(false))
                {
                    if (e.Direction is "outbound" or "ingress")
                    {
                        seen.Add(e);
                    }
                }
            }
            catch (HttpRequestException ex)
            {
                return await UnreachableAsync(output, controlPlane, ex).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
            catch (OperationCanceledException)
            {
                return 0;
            }

            await output.WriteLineAsync($"{DateTimeOffset.Now:HH:mm:ss} busiest paths over {span.TotalSeconds:0.#} s ({seen.Count} requests)").ConfigureAwait(false);
            await Table.WriteAsync(output, ["SOURCE", "DESTINATION", "METHOD", "PATH", "COUNT", "SUCCESS", "BEST", "WORST", "LAST"],
                [.. seen.GroupBy(e => (e.Source, e.Destination, e.Method, e.Path)).OrderByDescending(g => g.Count()).Take(20).Select(g => new[]
                {
                    g.Key.Source, g.Key.Destination, g.Key.Method, g.Key.Path, $"{g.Count()}",
                    Percent((double)g.Count(e => e.Status < 500 && e.MeshError.Length == 0) / g.Count()),
                    Ms(g.Min(e => e.LatencyMs)), Ms(g.Max(e => e.LatencyMs)), Ms(g.Last().LatencyMs),
                })]).ConfigureAwait(false);
            await output.WriteLineAsync().ConfigureAwait(false);
        }
        while (!once && !cancellationToken.IsCancellationRequested);

        return 0;
    }

    public static async Task<int> CheckAsync(Uri controlPlane, TextWriter output, CancellationToken cancellationToken)
    {
        using var http = Client(controlPlane);
        var problems = 0;
        async Task Line(bool ok, string text)
        {
            problems += ok ? 0 : 1;
            await output.WriteLineAsync($"{(ok ? "ok  " : "FAIL")} {text}").ConfigureAwait(false);
        }

        ProxyList proxies;
        ServiceList services;
        try
        {
            using var health = await http.GetAsync("health", cancellationToken).ConfigureAwait(false);
            await Line(health.IsSuccessStatusCode, $"control plane {controlPlane} reachable ({(int)health.StatusCode})").ConfigureAwait(false);
            proxies = (await http.GetFromJsonAsync("v1/proxies", MeshJsonContext.Tolerant.ProxyList, cancellationToken).ConfigureAwait(false))!;
            services = (await http.GetFromJsonAsync("v1/services", MeshJsonContext.Tolerant.ServiceList, cancellationToken).ConfigureAwait(false))!;
        }
        catch (HttpRequestException ex)
        {
            await output.WriteLineAsync($"FAIL control plane {controlPlane} unreachable: {ex.Message}").ConfigureAwait(false);
            return Unreachable;
        }

        await Line(true, $"config version {proxies.ConfigVersion} (mesh state {proxies.CurrentVersion})").ConfigureAwait(false);
        var live = proxies.Proxies.Where(p => p.Watching).ToList();
        await Line(live.Count > 0, $"{live.Count} proxies connected").ConfigureAwait(false);
        foreach (var proxy in live.Where(p => !p.UpToDate))
        {
            await Line(false, $"proxy {proxy.Id} ({proxy.Kind} {proxy.Name}) serves version {proxy.AppliedVersion}, not the latest {proxies.CurrentVersion}"
                + (proxy.LastRefusal is { } refusal ? $": it refused version {proxy.RefusedVersion}: {refusal}" : "")).ConfigureAwait(false);
        }

        if (live.All(p => p.UpToDate) && live.Count > 0)
        {
            await Line(true, "every connected proxy serves the latest config").ConfigureAwait(false);
        }

        // Builds: proxies and control plane one version apart work together (each skips what it does not know), as in
        // a rolling upgrade; a proxy that ignored fields of its config does not do all the config asks.
        if (proxies.ControlPlaneVersion is { } controlPlaneVersion && live.Count > 0)
        {
            var others = live.Where(p => p.ProxyVersion is { } v && v != controlPlaneVersion).GroupBy(p => p.ProxyVersion!, StringComparer.Ordinal).ToList();
            await output.WriteLineAsync(others.Count == 0
                ? $"ok   control plane and proxies run {controlPlaneVersion}"
                : $"WARN control plane runs {controlPlaneVersion}, {others.Sum(g => g.Count())} of {live.Count} proxies another build: "
                    + string.Join(", ", others.Select(g => $"{g.Key} ({string.Join(", ", g.Select(p => p.Id))})"))
                    + "; expected during an upgrade, finish it").ConfigureAwait(false);
        }

        foreach (var proxy in live.Where(p => p.IgnoredFields.Count > 0))
        {
            await Line(false, $"proxy {proxy.Id} ({proxy.Kind} {proxy.Name}, {proxy.ProxyVersion ?? "an older build"}) ignores fields of its config it does not know: "
                + $"{string.Join(", ", proxy.IgnoredFields)}; upgrade it to the control plane's build").ConfigureAwait(false);
        }

        foreach (var service in services.Services)
        {
            var healthy = service.Instances.Count(i => i.Health == InstanceHealth.Healthy);
            var unhealthy = service.Instances.Where(i => i.Health != InstanceHealth.Healthy).Select(i => i.Id).ToList();
            await Line(healthy > 0 && unhealthy.Count == 0, $"service {service.Name}: {healthy}/{service.Instances.Count} instances healthy"
                + (unhealthy.Count > 0 ? $" (unhealthy: {string.Join(", ", unhealthy)})" : "")).ConfigureAwait(false);
            // Why, as each instance's sidecar says: the app's failed health check, or the sidecar not configured yet.
            foreach (var instance in service.Instances.Where(i => i.Health != InstanceHealth.Healthy && i.Reason is not null))
            {
                await output.WriteLineAsync($"     {instance.Id}: {instance.Reason}").ConfigureAwait(false);
            }
        }

        // Workload certificates: every connected proxy holds one that is still valid (proxies renew at half-life, so
        // one with less than a tenth of a day left, or already expired, means renewal is failing).
        var now = DateTimeOffset.UtcNow;
        foreach (var proxy in live)
        {
            if (proxy.CertificateNotAfter is not { } notAfter)
            {
                await Line(false, $"proxy {proxy.Id} ({proxy.Kind} {proxy.Name}) reports no workload certificate").ConfigureAwait(false);
            }
            else if (notAfter <= now)
            {
                await Line(false, $"proxy {proxy.Id} certificate {proxy.SpiffeId} expired at {notAfter:u}: its renewals are failing (see its log)").ConfigureAwait(false);
            }
        }

        var certified = live.Where(p => p.CertificateNotAfter > now).ToList();
        if (certified.Count > 0)
        {
            await Line(true, $"{certified.Count} workload certificates valid (earliest expiry {certified.Min(p => p.CertificateNotAfter)!.Value:u})").ConfigureAwait(false);
        }

        await output.WriteLineAsync(problems == 0 ? "The mesh is healthy." : $"{problems} problem(s) found.").ConfigureAwait(false);
        return problems == 0 ? 0 : 1;
    }

    private static async Task<StringContent> ConfigContentAsync(FileInfo file, CancellationToken cancellationToken)
    {
        var text = await File.ReadAllTextAsync(file.FullName, cancellationToken).ConfigureAwait(false);
        var type = file.Extension is ".yaml" or ".yml" ? "application/yaml" : "application/json";
        return new StringContent(text, Encoding.UTF8, type);
    }

    private static async Task<int> RefusedAsync(HttpResponseMessage response, TextWriter output, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        MeshProblem? problem = null;
        try
        {
            problem = JsonSerializer.Deserialize(body, MeshJsonContext.Tolerant.MeshProblem);
        }
        catch (JsonException)
        {
        }

        await output.WriteLineAsync($"refused ({(int)response.StatusCode}): {problem?.Title ?? response.ReasonPhrase}{(problem?.Detail is { } d ? $": {d}" : "")}").ConfigureAwait(false);
        foreach (var error in problem?.Errors ?? [])
        {
            await output.WriteLineAsync($"  {error.Path}: {error.Message}").ConfigureAwait(false);
        }

        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            await output.WriteLineAsync("  give the admin token with --token or ASPIREMESH_ADMIN_TOKEN (the AppHost prints it).").ConfigureAwait(false);
        }

        return 1;
    }

    public static async Task<int> ConfigPlanAsync(Uri controlPlane, FileInfo file, string? token, TextWriter output, CancellationToken cancellationToken)
    {
        using var http = Client(controlPlane, token);
        try
        {
            using var response = await http.PostAsync("v1/config/plan", await ConfigContentAsync(file, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await RefusedAsync(response, output, cancellationToken).ConfigureAwait(false);
            }

            var plan = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.ConfigPlan, cancellationToken).ConfigureAwait(false))!;
            await output.WriteLineAsync($"Plan against config version {plan.BaseVersion}:").ConfigureAwait(false);
            var changed = plan.Proxies.Where(p => p.Changes).ToList();
            if (changed.Count == 0)
            {
                await output.WriteLineAsync("  no proxy would change.").ConfigureAwait(false);
            }

            foreach (var proxy in changed)
            {
                await output.WriteLineAsync($"  {proxy.Kind} {proxy.Name} ({proxy.ConnectedProxies.Count} connected):").ConfigureAwait(false);
                foreach (var (what, set) in new[] { ("routes", proxy.Routes), ("backends", proxy.Backends), ("policies", proxy.Policies) })
                {
                    foreach (var (sign, names) in new[] { ("+", set.Added), ("-", set.Removed), ("~", set.Changed) })
                    {
                        foreach (var name in names)
                        {
                            await output.WriteLineAsync($"    {sign} {what[..^1]} {name}").ConfigureAwait(false);
                        }
                    }
                }
            }

            return 0;
        }
        catch (HttpRequestException ex)
        {
            return await UnreachableAsync(output, controlPlane, ex).ConfigureAwait(false);
        }
    }

    public static async Task<int> ConfigApplyAsync(Uri controlPlane, FileInfo file, string? token, long? ifMatch, TextWriter output, CancellationToken cancellationToken)
    {
        using var http = Client(controlPlane, token);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, "v1/config") { Content = await ConfigContentAsync(file, cancellationToken).ConfigureAwait(false) };
            if (ifMatch is { } expected)
            {
                request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{expected}\""));
            }

            using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await RefusedAsync(response, output, cancellationToken).ConfigureAwait(false);
            }

            var result = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.ConfigWriteResult, cancellationToken).ConfigureAwait(false))!;
            await output.WriteLineAsync(result.Unchanged ? $"unchanged: version {result.Version} is already this config." : $"applied: config version {result.Version}.").ConfigureAwait(false);
            return 0;
        }
        catch (HttpRequestException ex)
        {
            return await UnreachableAsync(output, controlPlane, ex).ConfigureAwait(false);
        }
    }

    public static async Task<int> ConfigRollbackAsync(Uri controlPlane, long version, string? token, TextWriter output, CancellationToken cancellationToken)
    {
        using var http = Client(controlPlane, token);
        try
        {
            using var response = await http.PostAsJsonAsync("v1/config/rollback", new RollbackRequest(version), MeshJsonContext.Default.RollbackRequest, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await RefusedAsync(response, output, cancellationToken).ConfigureAwait(false);
            }

            var result = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.ConfigWriteResult, cancellationToken).ConfigureAwait(false))!;
            await output.WriteLineAsync($"rolled back: config version {version} is current again (as version {result.Version}).").ConfigureAwait(false);
            return 0;
        }
        catch (HttpRequestException ex)
        {
            return await UnreachableAsync(output, controlPlane, ex).ConfigureAwait(false);
        }
    }

    /// <summary>Mints a registration token for an application's instances of <paramref name="service"/>: the token alone on <paramref name="output"/> (for scripts), its expiry on <paramref name="notes"/>.</summary>
    public static Task<int> MintRegistrationTokenAsync(Uri controlPlane, string service, string? lifetime, string? token, TextWriter output, TextWriter notes, CancellationToken cancellationToken) =>
        MintAsync(controlPlane, token, lifetime, output, notes, "v1/registration-tokens",
            seconds => JsonContent.Create(new AspireMesh.Contracts.Security.RegistrationTokenRequest(service) { LifetimeSeconds = seconds }, MeshJsonContext.Default.RegistrationTokenRequest),
            async response =>
            {
                var grant = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.RegistrationTokenGrant, cancellationToken).ConfigureAwait(false))!;
                return (grant.Token, grant.Expires, $"a registration token for the instances of service '{service}'");
            }, cancellationToken);

    /// <summary>Mints a bootstrap credential for a proxy started by hand: the credential alone on <paramref name="output"/>, its expiry on <paramref name="notes"/>.</summary>
    public static Task<int> MintBootstrapCredentialAsync(Uri controlPlane, string kind, string name, string? instance, string? lifetime, string? token, TextWriter output, TextWriter notes,
        CancellationToken cancellationToken) =>
        MintAsync(controlPlane, token, lifetime, output, notes, "v1/bootstrap-credentials",
            seconds => JsonContent.Create(new AspireMesh.Contracts.Security.BootstrapCredentialRequest(kind, name) { Instance = instance, LifetimeSeconds = seconds },
                MeshJsonContext.Default.BootstrapCredentialRequest),
            async response =>
            {
                var grant = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.BootstrapCredentialGrant, cancellationToken).ConfigureAwait(false))!;
                return (grant.Credential, grant.Expires, $"a bootstrap credential for {kind} '{name}'{(instance is null ? " (any one instance, each once)" : $" (instance '{instance}')")}");
            }, cancellationToken);

    /// <summary>
    /// Revokes a registration token (<c>amr1.</c>) or a bootstrap credential (<c>amb1.</c>) before its expiry; <c>-</c> reads
    /// it from <paramref name="input"/> (standard input), out of the shell's history and the process list.
    /// </summary>
    public static async Task<int> RevokeAsync(Uri controlPlane, string credential, string? token, TextReader input, TextWriter output, CancellationToken cancellationToken)
    {
        credential = (credential == "-" ? await input.ReadToEndAsync(cancellationToken).ConfigureAwait(false) : credential).Trim();
        var bootstrap = credential.StartsWith("amb1.", StringComparison.Ordinal);
        if (!bootstrap && !credential.StartsWith("amr1.", StringComparison.Ordinal))
        {
            await output.WriteLineAsync("error: that is neither a registration token (amr1....) nor a bootstrap credential (amb1....).").ConfigureAwait(false);
            return 1;
        }

        using var http = Client(controlPlane, token);
        try
        {
            using var response = bootstrap
                ? await http.PostAsJsonAsync("v1/bootstrap-credentials/revoke", new AspireMesh.Contracts.Security.BootstrapCredentialRevocation(credential),
                    MeshJsonContext.Default.BootstrapCredentialRevocation, cancellationToken).ConfigureAwait(false)
                : await http.PostAsJsonAsync("v1/registration-tokens/revoke", new AspireMesh.Contracts.Security.RegistrationTokenRevocation(credential),
                    MeshJsonContext.Default.RegistrationTokenRevocation, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await RefusedAsync(response, output, cancellationToken).ConfigureAwait(false);
            }

            var revoked = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.CredentialRevoked, cancellationToken).ConfigureAwait(false))!;
            await output.WriteLineAsync($"revoked: {(bootstrap ? "bootstrap credential" : "registration token")} {revoked.Id} ({revoked.Kind} '{revoked.Name}') is refused from now on " +
                $"(it would have expired at {revoked.Expires:u}).").ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return await UnreachableAsync(output, controlPlane, ex).ConfigureAwait(false);
        }
    }

    private static async Task<int> MintAsync(Uri controlPlane, string? token, string? lifetime, TextWriter output, TextWriter notes, string path,
        Func<double?, HttpContent> body, Func<HttpResponseMessage, Task<(string Secret, DateTimeOffset Expires, string What)>> read, CancellationToken cancellationToken)
    {
        double? seconds = null;
        if (lifetime is not null)
        {
            if (!MeshDuration.TryParse(lifetime, out var span) || span <= TimeSpan.Zero)
            {
                await notes.WriteLineAsync($"error: --lifetime '{lifetime}' is not a duration such as 720h.").ConfigureAwait(false);
                return 1;
            }

            seconds = span.TotalSeconds;
        }

        using var http = Client(controlPlane, token);
        try
        {
            using var response = await http.PostAsync(new Uri(path, UriKind.Relative), body(seconds), cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await RefusedAsync(response, notes, cancellationToken).ConfigureAwait(false);
            }

            var (secret, expires, what) = await read(response).ConfigureAwait(false);
            await output.WriteLineAsync(secret).ConfigureAwait(false);
            await notes.WriteLineAsync($"{what}, good until {expires:u}.").ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return await UnreachableAsync(notes, controlPlane, ex).ConfigureAwait(false);
        }
    }
}

/// <summary>Left-aligned columns, two spaces apart.</summary>
internal static class Table
{
    public static async Task WriteAsync(TextWriter output, string[] headers, IReadOnlyList<string[]> rows)
    {
        var widths = headers.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        foreach (var row in rows.Prepend(headers))
        {
            await output.WriteLineAsync(string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd()).ConfigureAwait(false);
        }
    }
}
