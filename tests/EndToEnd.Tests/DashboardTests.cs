using System.Net;

namespace AspireMesh.EndToEnd.Tests;

/// <summary>The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core) against the running AppHost.</summary>
public sealed class DashboardTests
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dashboard_WhileTrafficFlows_ShowsTopologyWithLiveEdgesTapAndRunningResourcesAndSavesScreenshots()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run does).");
        var screenshots = Path.Combine(AppContext.BaseDirectory, "TestResults");
        Directory.CreateDirectory(screenshots);
        foreach (var old in Directory.GetFiles(screenshots, "dashboard-*.png"))
        {
            File.Delete(old);
        }

        await using var mesh = await AppHostProcess.StartAsync();
        using var stopTraffic = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var failures = 0;
        var sent = 0;
        var traffic = Task.Run(async () =>
        {
            // Steady traffic through the gateway: gateway -> frontend -> catalog -> inventory.
            while (!stopTraffic.IsCancellationRequested)
            {
                try
                {
                    var (status, _) = await mesh.GetProductsAsync(stopTraffic.Token);
                    Interlocked.Increment(ref sent);
                    if (status != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
                catch (OperationCanceledException) when (stopTraffic.IsCancellationRequested)
                {
                }
            }
        }, Cancel);

        var dashboard = new Uri(mesh.ControlPlane, "dashboard/");
        int exit;
        string output;
        await using (var check = await Interop.StartNodeAsync(typeof(DashboardTests).Assembly, "dashboard-check", "dashboard/check.js",
            ["--url", dashboard.ToString(), "--out", screenshots, "--chromium", Chromium, "--timeout", "150",
             "--node", "gateway", "--node", "frontend", "--node", "catalog", "--node", "inventory",
             "--edge", "gateway -> frontend", "--edge", "frontend -> catalog", "--edge", "catalog -> inventory",
             "--resource", "controlplane", "--resource", "gateway", "--resource", "frontend-1", "--resource", "frontend-1-proxy",
             "--resource", "catalog-1", "--resource", "catalog-2", "--resource", "inventory-1", "--console", "controlplane"]))
        {
            exit = await check.Exited.WaitAsync(Deadline, Cancel);
            output = check.Output;
        }

        await stopTraffic.CancelAsync();
        await traffic;
        TestContext.Current.TestOutputHelper?.WriteLine(output);

        Assert.True(exit == 0, $"the dashboard check failed (exit {exit}):{Environment.NewLine}{output}{Environment.NewLine}AppHost:{Environment.NewLine}{mesh.Process.Output}");
        Assert.True(sent > 0);
        Assert.Equal(0, failures);
        foreach (var name in (string[])["dashboard-full.png", "dashboard-topology.png"])
        {
            var path = Path.Combine(screenshots, name);
            Assert.True(File.Exists(path), $"{path} was not saved:{Environment.NewLine}{output}");
            var bytes = await File.ReadAllBytesAsync(path, Cancel);
            Assert.True(bytes.Length > 1000 && bytes.AsSpan(0, 8).SequenceEqual((byte[])[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), $"{path} is not a PNG screenshot");
            Assert.Contains($"screenshot {path}", output, StringComparison.Ordinal);
        }

        Assert.Contains("edge gateway -> frontend: ", output, StringComparison.Ordinal);
    }
}
