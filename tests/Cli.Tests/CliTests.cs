using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Security;

namespace AspireMesh.Cli.Tests;

/// <summary>The aspiremesh CLI, run as a real process against a real control plane and sidecars.</summary>
public sealed class CliTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string Assembly(string project) => BuiltProjects.Assembly(typeof(CliTests).Assembly, project);

    /// <summary>Runs the CLI to its end and returns its exit code and output.</summary>
    private static Task<(int Code, string Output)> RunAsync(params string[] args) => RunWithAsync(null, args);

    /// <summary>As above, with more environment variables.</summary>
    private static async Task<(int Code, string Output)> RunWithAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        await using var cli = await TestProcess.StartDotnetAsync("aspiremesh", Assembly("Cli.csproj"), args, environment);
        var code = await cli.Exited.WaitAsync(Deadline, Cancel);
        return (code, cli.Output);
    }

    /// <summary>Runs <c>aspiremesh check</c> until its output says <paramref name="expected"/>; returns that run's exit code and output.</summary>
    private static async Task<(int Code, string Output)> CheckUntilAsync(ControlPlaneProcess controlPlane, string expected)
    {
        var (code, output) = (0, "");
        await Eventually.UntilAsync(async () =>
        {
            (code, output) = await RunAsync("check", "--control-plane", controlPlane.Url.ToString());
            return output.Contains(expected, StringComparison.Ordinal);
        }, Deadline, $"aspiremesh check to say '{expected}'");
        return (code, output);
    }

    private static async Task<TestProcess> StartSidecarAsync(ControlPlaneProcess controlPlane, string service, Uri app)
    {
        var state = Directory.CreateTempSubdirectory("aspiremesh-cli-proxy-").FullName;
        var process = await TestProcess.StartDotnetAsync($"{service}-proxy", Assembly("MeshProxy.csproj"),
            ["--service", service, "--instance-id", $"{service}-1", "--app-url", app.ToString(), "--control-plane", controlPlane.Url.ToString(), "--state-dir", state],
            ControlPlaneProcess.SidecarEnvironment(service, $"{service}-1"));
        return process;
    }

    private static async Task<Uri> OutboundOfAsync(TestProcess sidecar) =>
        new((await sidecar.WaitForLineAsync(@"outbound (\S+),", Deadline)).Groups[1].Value.TrimEnd(','));

    [Fact]
    public async Task Check_HealthyMesh_ExitsZeroWithEveryProxyOnTheLatestConfig()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CliTests).Assembly);
        await using var sidecar = await StartSidecarAsync(controlPlane, "catalog", app.Url);

        var (code, output) = (0, "");
        await Eventually.UntilAsync(async () =>
        {
            (code, output) = await RunAsync("check", "--control-plane", controlPlane.Url.ToString());
            return code == 0;
        }, Deadline, "aspiremesh check to pass once the sidecar is registered and up to date");

        Assert.Contains("ok   every connected proxy serves the latest config", output, StringComparison.Ordinal);
        Assert.Contains($"ok   control plane and proxies run {MeshBuild.Version}", output, StringComparison.Ordinal);
        Assert.Contains("ok   service catalog: 1/1 instances healthy", output, StringComparison.Ordinal);
        Assert.Contains("ok   1 workload certificates valid (earliest expiry", output, StringComparison.Ordinal);
        Assert.Contains("The mesh is healthy.", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_ProxyWhoseCertificateExpired_Exit1NamingIt()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CliTests).Assembly);
        // A proxy that reports a certificate that ran out (as one whose renewals keep failing would) and keeps watching.
        await using var proxy = await ReportedProxy.StartAsync(controlPlane, "catalog-9",
            new ProxyReport("sidecar", "catalog", 0, null, null) { SpiffeId = "spiffe://cluster.local/ns/default/sa/catalog", CertificateNotAfter = DateTimeOffset.UtcNow.AddMinutes(-1) });

        var (code, output) = await CheckUntilAsync(controlPlane, "certificate spiffe://cluster.local/ns/default/sa/catalog expired at");

        Assert.Equal(1, code);
        Assert.Contains("FAIL proxy catalog-9 certificate", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_ProxyOfAnOlderBuildThatIgnoredFields_WarnsOfItsBuild_Exit1NamingTheFields()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CliTests).Assembly);
        // Mid-upgrade: a proxy of an older build that skipped fields of its snapshot its build does not know.
        await using var proxy = await ReportedProxy.StartAsync(controlPlane, "catalog-9", new ProxyReport("sidecar", "catalog", 0, null, null)
        {
            SpiffeId = "spiffe://cluster.local/ns/default/sa/catalog",
            CertificateNotAfter = DateTimeOffset.UtcNow.AddHours(1),
            ProxyVersion = "0.0.1-older",
            IgnoredFields = ["inbound.authorization[].rules[].notFrom", "clusters[].retries"],
        });

        var (code, output) = await CheckUntilAsync(controlPlane, "ignores fields");

        Assert.Equal(1, code);
        Assert.Matches(@"WARN control plane runs \S+, 1 of 1 proxies another build: 0\.0\.1-older \(catalog-9\); expected during an upgrade", output);
        Assert.Contains("FAIL proxy catalog-9 (sidecar catalog, 0.0.1-older) ignores fields of its config it does not know: "
            + "inbound.authorization[].rules[].notFrom, clusters[].retries; upgrade it", output, StringComparison.Ordinal);
    }

    /// <summary>A proxy as the control plane sees it: its report, and a watch held open so that it counts as connected.</summary>
    private sealed class ReportedProxy : IAsyncDisposable
    {
        private readonly CancellationTokenSource _watch = new();
        private Task<HttpResponseMessage> _watching = null!;

        public static async Task<ReportedProxy> StartAsync(ControlPlaneProcess controlPlane, string id, ProxyReport report)
        {
            using var reported = await controlPlane.Http.PostAsJsonAsync($"v1/proxies/{id}/report", report, MeshJsonContext.Default.ProxyReport, Cancel);
            reported.EnsureSuccessStatusCode();
            var proxy = new ReportedProxy();
            var version = (await controlPlane.GetServicesAsync()).Version;
            proxy._watching = controlPlane.Http.GetAsync($"v1/watch/{report.Kind}/{report.Name}?proxy={id}&version={version}", proxy._watch.Token);
            return proxy;
        }

        public async ValueTask DisposeAsync()
        {
            await _watch.CancelAsync();
            try
            {
                (await _watching).Dispose();
            }
            catch (OperationCanceledException)
            {
                // The long poll was still open: the proxy counted as connected throughout.
            }

            _watch.Dispose();
        }
    }

    [Fact]
    public async Task Check_InstanceWhoseAppFails_Exit1NamingTheInstance()
    {
        await using var app = await TestBackend.StartAsync("app");
        app.Handler = context =>
        {
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CliTests).Assembly);
        await using var sidecar = await StartSidecarAsync(controlPlane, "catalog", app.Url);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == "unhealthy", Deadline, "catalog-1 to register as unhealthy");

        var (code, output) = await RunAsync("check", "--control-plane", controlPlane.Url.ToString());

        Assert.Equal(1, code);
        Assert.Contains("FAIL service catalog: 0/1 instances healthy (unhealthy: catalog-1)", output, StringComparison.Ordinal);
        Assert.Contains($"catalog-1: its application answers GET {new Uri(app.Url, "/health")} with 503", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_ControlPlaneUnreachable_Exit2NamingTheAddress()
    {
        var closed = Ports.ClosedUrl();

        var (code, output) = await RunAsync("check", "--control-plane", closed.ToString());

        Assert.Equal(2, code);
        Assert.Contains($"control plane {closed} unreachable", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_ControlPlaneOverHttps_TrustedByTheGivenRoot_RefusedWithoutIt()
    {
        await using var controlPlane = await ControlPlaneProcess.StartWithHttpsAsync(typeof(CliTests).Assembly);
        var root = Path.Combine(controlPlane.StateDirectory, "given-root.pem");
        await File.WriteAllTextAsync(root, await controlPlane.TrustBundleAsync(), Cancel);

        var (trustedCode, trusted) = await RunWithAsync(new Dictionary<string, string> { ["ASPIREMESH_CONTROL_PLANE_CA"] = root },
            "check", "--control-plane", controlPlane.HttpsUrl!.ToString());
        var (refusedCode, refused) = await RunAsync("check", "--control-plane", controlPlane.HttpsUrl!.ToString());
        var (unreadableCode, unreadable) = await RunWithAsync(new Dictionary<string, string> { ["ASPIREMESH_CONTROL_PLANE_CA"] = "not a certificate" },
            "check", "--control-plane", controlPlane.HttpsUrl!.ToString());

        // Reached (it exits 1 only for the lack of connected proxies).
        Assert.Equal(1, trustedCode);
        Assert.Contains($"ok   control plane {controlPlane.HttpsUrl} reachable (200)", trusted, StringComparison.Ordinal);
        Assert.Equal(2, refusedCode);
        Assert.Contains("the control plane's certificate (O=AspireMesh, OU=cluster.local, CN=AspireMesh control plane, issued by", refused, StringComparison.Ordinal);
        Assert.Contains("Give the mesh's root in ASPIREMESH_CONTROL_PLANE_CA", refused, StringComparison.Ordinal);
        Assert.Equal(2, unreadableCode);
        Assert.Contains("error: ASPIREMESH_CONTROL_PLANE_CA is neither PEM text nor a readable file", unreadable, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Credentials_MintedWithTheAdminToken_PrintedAloneOnStandardOutput_AndRevoked()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CliTests).Assembly, null, "--ControlPlane:OpenOnLoopback=false");
        var url = controlPlane.Url.ToString();
        async Task<(int Code, string Output, string Errors)> MintAsync(params string[] args)
        {
            await using var cli = await TestProcess.StartDotnetAsync("aspiremesh", Assembly("Cli.csproj"), ["credentials", .. args, "--control-plane", url]);
            var code = await cli.Exited.WaitAsync(Deadline, Cancel);
            var errors = cli.ErrorOutput.Split(Environment.NewLine).ToHashSet();
            return (code, string.Join('\n', cli.Output.Split(Environment.NewLine).Where(l => !errors.Contains(l))), cli.ErrorOutput);
        }

        var withoutAdmin = await MintAsync("registration-token", "orders");
        var registration = await MintAsync("registration-token", "orders", "--lifetime", "2h", "--token", ControlPlaneProcess.AdminToken);
        var bootstrap = await MintAsync("bootstrap", "sidecar", "catalog", "--instance", "catalog-3", "--token", ControlPlaneProcess.AdminToken);
        var badLifetime = await MintAsync("registration-token", "orders", "--lifetime", "soon", "--token", ControlPlaneProcess.AdminToken);

        Assert.Equal(1, withoutAdmin.Code);
        Assert.Contains("refused (401)", withoutAdmin.Errors, StringComparison.Ordinal);
        Assert.Equal("", withoutAdmin.Output);

        Assert.Equal(0, registration.Code);
        Assert.True(RegistrationToken.TryVerify(ControlPlaneProcess.BootstrapKey, registration.Output, DateTimeOffset.UtcNow, out var claims, out var error), error);
        Assert.Equal((RegistrationToken.ServiceKind, "orders", (string?)null), (claims!.Kind, claims.Name, claims.Instance));
        Assert.InRange(DateTimeOffset.FromUnixTimeSeconds(claims.Expires), DateTimeOffset.UtcNow.AddMinutes(110), DateTimeOffset.UtcNow.AddMinutes(121));
        Assert.Contains("a registration token for the instances of service 'orders', good until", registration.Errors, StringComparison.Ordinal);

        Assert.Equal(0, bootstrap.Code);
        Assert.True(BootstrapCredential.TryVerify(ControlPlaneProcess.BootstrapKey, bootstrap.Output, DateTimeOffset.UtcNow, out var bootstrapClaims, out var bootstrapError), bootstrapError);
        Assert.Equal(("sidecar", "catalog", "catalog-3"), (bootstrapClaims!.Kind, bootstrapClaims.Name, bootstrapClaims.Instance));

        Assert.Equal(1, badLifetime.Code);
        Assert.Contains("error: --lifetime 'soon' is not a duration such as 720h.", badLifetime.Errors, StringComparison.Ordinal);

        var revoked = await MintAsync("revoke", registration.Output, "--token", ControlPlaneProcess.AdminToken);
        Assert.Equal(0, revoked.Code);
        Assert.Contains($"revoked: registration token {claims.Id} (service 'orders') is refused from now on", revoked.Output, StringComparison.Ordinal);
        // Given on standard input (-), out of the shell's history and the process list.
        await using (var fromStdin = await TestProcess.StartAsync("aspiremesh", "bash",
            ["-c", "printf '%s\\n' \"$CREDENTIAL\" | dotnet \"$CLI\" credentials revoke - --token \"$ADMIN\" --control-plane \"$URL\""],
            new Dictionary<string, string> { ["CREDENTIAL"] = bootstrap.Output, ["CLI"] = Assembly("Cli.csproj"), ["ADMIN"] = ControlPlaneProcess.AdminToken, ["URL"] = url }))
        {
            Assert.Equal(0, await fromStdin.Exited.WaitAsync(Deadline, Cancel));
            Assert.Contains($"revoked: bootstrap credential {bootstrapClaims.Id} (sidecar 'catalog') is refused from now on", fromStdin.Output, StringComparison.Ordinal);
            Assert.DoesNotContain(bootstrap.Output, fromStdin.Output, StringComparison.Ordinal);
        }

        var neither = await MintAsync("revoke", "password", "--token", ControlPlaneProcess.AdminToken);
        Assert.Equal(1, neither.Code);
        Assert.Contains("error: that is neither a registration token (amr1....) nor a bootstrap credential (amb1....).", neither.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatAndTap_Traffic_TableShowsTheEdgeAndTapPrintsTheRequest()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CliTests).Assembly, null, "--ControlPlane:StatsInterval=00:00:00.250");
        await using var frontend = await StartSidecarAsync(controlPlane, "frontend", frontendApp.Url);
        await using var catalog = await StartSidecarAsync(controlPlane, "catalog", catalogApp.Url);
        using var http = new HttpClient(new HttpClientHandler { Proxy = new WebProxy(await OutboundOfAsync(frontend)), UseProxy = true });
        // Every request of the edge must succeed: none may be sent before frontend's sidecar can route it.
        await controlPlane.WaitUntilRoutableAsync("catalog-1", ["frontend-1"], Deadline);
        await using var tap = await TestProcess.StartDotnetAsync("aspiremesh-tap", Assembly("Cli.csproj"),
            ["tap", "--control-plane", controlPlane.Url.ToString(), "--path", "/items", "--direction", "inbound", "--max", "1"]);
        await tap.WaitForLineAsync("^tapping ", Deadline);

        var (code, output) = (0, "");
        await Eventually.UntilAsync(async () =>
        {
            using var response = await http.GetAsync("http://catalog/items", Cancel);
            (code, output) = await RunAsync("stat", "--control-plane", controlPlane.Url.ToString(), "--window", "30s");
            return output.Contains("frontend -> catalog", StringComparison.Ordinal) && tap.Exited.IsCompleted;
        }, Deadline, "aspiremesh stat to show the frontend -> catalog edge and tap to print a request");

        Assert.Equal(0, code);
        Assert.Matches(new Regex(@"frontend -> catalog\s+[0-9.]+\s+100\.00%\s+[0-9.]+ms"), output);
        Assert.Equal(0, await tap.Exited);
        Assert.Matches(new Regex(@"catalog-1 inbound GET \S*/items 200 [0-9.]+ms src=frontend dst=catalog"), tap.Output);
    }

    [Fact]
    public async Task Tap_ControlPlaneStops_ExitsWith1SayingItEndedTheTap()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CliTests).Assembly);
        await using var tap = await TestProcess.StartDotnetAsync("aspiremesh-tap", Assembly("Cli.csproj"), ["tap", "--control-plane", controlPlane.Url.ToString()]);
        await tap.WaitForLineAsync("^tapping ", Deadline);

        Assert.Equal(0, await controlPlane.Process.StopAsync(TimeSpan.FromSeconds(20)).WaitAsync(Deadline, Cancel));
        Assert.Equal(1, await tap.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains($"the control plane at {controlPlane.Url} ended the tap (it is stopping)", tap.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tap_ControlPlaneKilled_ExitsWith1SayingTheTapWasCut()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CliTests).Assembly);
        await using var tap = await TestProcess.StartDotnetAsync("aspiremesh-tap", Assembly("Cli.csproj"), ["tap", "--control-plane", controlPlane.Url.ToString()]);
        await tap.WaitForLineAsync("^tapping ", Deadline);

        controlPlane.Process.Kill();
        Assert.Equal(1, await tap.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains($"the tap from the control plane at {controlPlane.Url} was cut: ", tap.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", tap.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigApply_InvalidThenValidThenRollback_RefusalListsPathsAndVersionsMove()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CliTests).Assembly);
        var directory = Directory.CreateTempSubdirectory("aspiremesh-cli-config-");
        try
        {
            var invalid = Path.Combine(directory.FullName, "bad.yaml");
            await File.WriteAllTextAsync(invalid, "services:\n  - name: Catalog!\n", Cancel);
            var valid = Path.Combine(directory.FullName, "good.yaml");
            await File.WriteAllTextAsync(valid, "services:\n  - name: catalog\n", Cancel);
            var second = Path.Combine(directory.FullName, "second.yaml");
            await File.WriteAllTextAsync(second, "services:\n  - name: catalog\n  - name: inventory\n", Cancel);
            var token = ControlPlaneProcess.AdminToken;

            var refused = await RunAsync("config", "apply", "-f", invalid, "--token", token, "--control-plane", controlPlane.Url.ToString());
            var planned = await RunAsync("config", "plan", "-f", valid, "--token", token, "--control-plane", controlPlane.Url.ToString());
            var applied = await RunAsync("config", "apply", "-f", valid, "--token", token, "--control-plane", controlPlane.Url.ToString());
            var appliedSecond = await RunAsync("config", "apply", "-f", second, "--if-match", "1", "--token", token, "--control-plane", controlPlane.Url.ToString());
            var rolledBack = await RunAsync("config", "rollback", "1", "--token", token, "--control-plane", controlPlane.Url.ToString());
            var unauthorized = await RunAsync("config", "rollback", "1", "--token", "wrong", "--control-plane", controlPlane.Url.ToString());

            var all = $"{refused.Output}\n{planned.Output}\n{applied.Output}\n{rolledBack.Output}\n{unauthorized.Output}";
            Assert.True(refused.Code == 1, all);
            Assert.Matches(new Regex(@"refused \((400|422)\)"), refused.Output);
            Assert.True(refused.Output.Contains("services[0].name", StringComparison.Ordinal), all);
            Assert.Equal(0, planned.Code);
            Assert.Contains("Plan against config version 0", planned.Output, StringComparison.Ordinal);
            Assert.Equal(0, applied.Code);
            Assert.Contains("applied: config version 1.", applied.Output, StringComparison.Ordinal);
            Assert.Contains("applied: config version 2.", appliedSecond.Output, StringComparison.Ordinal);
            Assert.Equal(0, rolledBack.Code);
            Assert.Contains("rolled back: config version 1 is current again", rolledBack.Output, StringComparison.Ordinal);
            Assert.Equal(1, unauthorized.Code);
            Assert.Contains("refused (401)", unauthorized.Output, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
