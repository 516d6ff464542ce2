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
    public async Task Dashboard_UnhealthyInstance_ShowsWhyInItsRow_AHealthyOneNothingMore()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run does).");
        var mesh = new MeshConfig { Services = [new ServiceConfig { Name = "catalog" }] };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DashboardBrowserTests).Assembly, mesh, "--ControlPlane:LeaseDuration=00:10:00");
        await controlPlane.Client.RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", false) { Reason = Why }, Cancel);
        await controlPlane.Client.RegisterAsync("catalog-2", new InstanceRegistration("catalog", "http://127.0.0.1:5002", true), Cancel);
        var screenshots = Path.Combine(AppContext.BaseDirectory, "TestResults", nameof(DashboardBrowserTests));

        int exit;
        string output;
        await using (var check = await Interop.StartNodeAsync(typeof(DashboardBrowserTests).Assembly, "dashboard-check", "dashboard/check.js",
            ["--url", new Uri(controlPlane.Url, "dashboard/").ToString(), "--out", screenshots, "--chromium", Chromium, "--timeout", "60",
             "--node", "catalog", "--instance", $"catalog-1=unhealthy:{Why}", "--instance", "catalog-2=healthy"]))
        {
            exit = await check.Exited.WaitAsync(TimeSpan.FromMinutes(3), Cancel);
            output = check.Output;
        }

        Assert.True(exit == 0, $"the dashboard check failed (exit {exit}):{Environment.NewLine}{output}");
        Assert.Contains($"instance catalog-1: unhealthy {Why}\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("instance catalog-2: healthy\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }
}
