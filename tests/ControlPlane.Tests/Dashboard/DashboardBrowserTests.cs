using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;

namespace AspireMesh.ControlPlane.Tests.Dashboard;

/// <summary>The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core) against a control plane alone.</summary>
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const string Why = "its application answers GET http://127.0.0.1:5000/health with 503";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dashboard_UnhealthyInstance_ShowsWhyInItsRow_AHealthyOneNothingMore_ClientRegisteredOnesTheirRegistrar()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run does).");
        var mesh = new MeshConfig { Services = [new ServiceConfig { Name = "catalog" }] };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DashboardBrowserTests).Assembly, mesh, "--ControlPlane:LeaseDuration=00:10:00");
        await controlPlane.Client.RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", false) { Reason = Why }, Cancel);
        await controlPlane.Client.RegisterAsync("catalog-2", new InstanceRegistration("catalog", "http://127.0.0.1:5002", true), Cancel);
        // Two without sidecars: one a Eureka client registered, one a Consul client.
        using (var eureka = await controlPlane.Http.PostAsync("eureka/apps/CATALOG", new StringContent(
            """{"instance": {"instanceId": "catalog-e1", "app": "CATALOG", "hostName": "h", "ipAddr": "127.0.0.1", "port": 5003}}""", System.Text.Encoding.UTF8, "application/json"), Cancel))
        using (var consul = await controlPlane.Http.PutAsync("v1/agent/service/register", new StringContent(
            """{"ID": "catalog-c1", "Name": "catalog", "Address": "127.0.0.1", "Port": 5004}""", System.Text.Encoding.UTF8, "application/json"), Cancel))
        {
            Assert.True(eureka.IsSuccessStatusCode && consul.IsSuccessStatusCode, $"{eureka.StatusCode} {consul.StatusCode}");
        }

        var screenshots = Path.Combine(AppContext.BaseDirectory, "TestResults", nameof(DashboardBrowserTests));

        int exit;
        string output;
        await using (var check = await Interop.StartNodeAsync(typeof(DashboardBrowserTests).Assembly, "dashboard-check", "dashboard/check.js",
            ["--url", new Uri(controlPlane.Url, "dashboard/").ToString(), "--out", screenshots, "--chromium", Chromium, "--timeout", "60",
             "--node", "catalog", "--instance", $"catalog-1=unhealthy:{Why}", "--instance", "catalog-2=healthy",
             "--instance", "catalog-e1=healthy", "--instance", "catalog-c1=healthy"]))
        {
            exit = await check.Exited.WaitAsync(TimeSpan.FromMinutes(3), Cancel);
            output = check.Output;
        }

        Assert.True(exit == 0, $"the dashboard check failed (exit {exit}):{Environment.NewLine}{output}");
        Assert.Contains($"instance catalog-1: unhealthy {Why}\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("instance catalog-2: healthy\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("instance catalog-e1 via Eureka: healthy\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("instance catalog-c1 via Consul: healthy\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }
}
