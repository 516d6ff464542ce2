using System.Net.Http.Json;
using System.Net;
using System.Net.Sockets;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.EndToEnd.Tests;

/// <summary>`dotnet run --project AppHost` as a user runs it: the whole mesh as real processes.</summary>
public sealed class AppHostTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Run_Storefront_ServesThroughMeshSurvivesInstanceLossScalesByHandAndStopsClean()
    {
        await using var mesh = await AppHostProcess.StartAsync();

        // One request crosses gateway -> frontend -> catalog -> inventory, each through its sidecars.
        var (status, first) = await mesh.GetProductsAsync(Cancel);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["SKU-001", "SKU-002", "SKU-003"], first!.Items.Select(p => p.Sku));
        Assert.Equal(42, first.Items[0].Stock);
        Assert.Equal("frontend-1", first.ServedBy["frontend"]);
        Assert.Matches("^catalog-[12]$", first.ServedBy["catalog"]);
        Assert.Equal("inventory-1", first.ServedBy["inventory"]);

        // Every sidecar, and only the sidecars, run with the sidecar's runtime settings (a 2 MB gen0 budget).
        var tuned = mesh.LiveProcesses.Intersect(ProcessTable.WithEnvironment("DOTNET_GCgen0size", "200000")).ToHashSet();
        foreach (var instance in new[] { "frontend-1", "catalog-1", "catalog-2", "inventory-1" })
        {
            Assert.Contains(Assert.Single(mesh.LiveProcesses.Intersect(ProcessTable.WithEnvironment("ASPIREMESH_RESOURCE", $"{instance}-proxy"))), tuned);
            Assert.DoesNotContain(Assert.Single(mesh.LiveProcesses.Intersect(ProcessTable.WithEnvironment("ASPIREMESH_RESOURCE", instance))), tuned);
        }

        Assert.Equal(4, tuned.Count);

        // One trace per request: the trace id the client sent is the one all three services saw, four proxies apart.
        using (var traced = new HttpRequestMessage(HttpMethod.Get, "/api/products"))
        {
            traced.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
            using var response = await mesh.Client.SendAsync(traced, Cancel);
            var body = await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<Products>(response.Content, Cancel);
            Assert.Equal(["catalog", "frontend", "inventory"], body!.Traces.Keys.Order());
            Assert.All(body.Traces.Values, trace => Assert.Equal("0af7651916cd43dd8448eb211c80319c", trace));
        }

        // Both catalog replicas serve over 20 calls.
        var catalogs = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            var (code, body) = await mesh.GetProductsAsync(Cancel);
            Assert.Equal(HttpStatusCode.OK, code);
            catalogs.Add(body!.ServedBy["catalog"]);
        }

        Assert.Equal(["catalog-1", "catalog-2"], catalogs.Order());

        // Kill catalog-2 (its app and its sidecar) outright: requests keep succeeding, the crash shows, it comes back.
        var victims = mesh.LiveProcesses.Intersect(ProcessTable.WithEnvironment("ASPIREMESH_INSTANCE_ID", "catalog-2")).ToList();
        Assert.Equal(2, victims.Count);
        foreach (var pid in victims)
        {
            System.Diagnostics.Process.GetProcessById(pid).Kill();
        }

        var failures = new List<string>();
        var servedAfterRestart = false;
        await Eventually.UntilAsync(async () =>
        {
            var (code, body) = await mesh.GetProductsAsync(Cancel);
            if (code != HttpStatusCode.OK)
            {
                failures.Add($"{(int)code}");
            }

            servedAfterRestart = mesh.Process.Output.Contains("catalog-2 exited unexpectedly", StringComparison.Ordinal) && body?.ServedBy["catalog"] == "catalog-2";
            return servedAfterRestart;
        }, Deadline, "catalog-2 to crash, be restarted and serve again");
        Assert.Empty(failures);

        // One more catalog instance, started by hand with the documented commands (a bootstrap credential from the
        // control plane's admin API, then the sidecar): it receives traffic without restarts.
        using var admin = new HttpClient { BaseAddress = mesh.ControlPlane };
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", mesh.AdminToken);
        using var minted = await admin.PostAsJsonAsync("v1/bootstrap-credentials", new { kind = "sidecar", name = "catalog", instance = "catalog-manual" }, Cancel);
        Assert.True(minted.IsSuccessStatusCode, await minted.Content.ReadAsStringAsync(Cancel));
        var credential = (await minted.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(Cancel)).GetProperty("credential").GetString()!;
        var manualState = Directory.CreateTempSubdirectory("aspiremesh-manual-").FullName;
        await using (var manual = await TestProcess.StartDotnetAsync("catalog-manual", BuiltProjects.Assembly(typeof(AppHostTests).Assembly, "MeshProxy.csproj"),
            ["--service", "catalog", "--instance-id", "catalog-manual", "--control-plane", mesh.ControlPlane.ToString(), "--state-dir", manualState,
             "--", "dotnet", BuiltProjects.Assembly(typeof(AppHostTests).Assembly, "Catalog.csproj")],
            new Dictionary<string, string> { ["ASPIREMESH_BOOTSTRAP_TOKEN"] = credential }))
        {
            await Eventually.UntilAsync(async () =>
            {
                var (code, body) = await mesh.GetProductsAsync(Cancel);
                if (code != HttpStatusCode.OK)
                {
                    failures.Add($"{(int)code}");
                }

                return body?.ServedBy["catalog"] == "catalog-manual";
            }, Deadline, "the hand-started catalog-manual to serve");
            Assert.Empty(failures);
            Assert.Equal(0, await manual.StopAsync(TimeSpan.FromSeconds(20)));
        }

        Directory.Delete(manualState, recursive: true);

        // Ctrl+C / SIGTERM stops every child gracefully and leaves nothing behind.
        Assert.True(ProcessSignals.TryTerminate(mesh.Process.Id));
        Assert.Equal(0, await mesh.Process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains("AspireMesh: stopped.", mesh.Process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("exited unexpectedly with code 0", mesh.Process.Output, StringComparison.Ordinal);
        Assert.Empty(mesh.LiveProcesses);
    }

    [Fact]
    public async Task Run_AppHostKilledOutright_EveryChildExitsToo()
    {
        await using var mesh = await AppHostProcess.StartAsync();
        Assert.True(mesh.LiveProcesses.Count >= 10);

        mesh.Process.Kill();

        await Eventually.UntilAsync(() => mesh.LiveProcesses.Count == 0, Deadline, "every process of the killed AppHost's run to exit");
    }

    [Fact]
    public async Task Run_GatewayPortInUse_ExitsNonZeroNamingThePortAndStartsNothing()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;

        await using var mesh = await AppHostProcess.LaunchAsync("--gateway-port", $"{port}", "--controlplane-port", "0");

        Assert.Equal(1, await mesh.Process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains($"error: port {port} (gateway 'gateway') is already in use", mesh.Process.Output, StringComparison.Ordinal);
        Assert.Contains("AspireMesh did not start anything.", mesh.Process.Output, StringComparison.Ordinal);
        Assert.Empty(mesh.LiveProcesses);
    }

    [Fact]
    public async Task Run_UnknownArgument_ExitsNonZeroNamingIt()
    {
        await using var mesh = await AppHostProcess.LaunchAsync("--gatway-port", "9090");

        Assert.Equal(1, await mesh.Process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains("unknown argument '--gatway-port'", mesh.Process.Output, StringComparison.Ordinal);
        Assert.Empty(mesh.LiveProcesses);
    }
}
