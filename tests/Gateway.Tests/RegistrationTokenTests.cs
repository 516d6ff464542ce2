using System.Net.Http.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// A gateway reports to a control plane that needs a registration token (<c>OpenOnLoopback=false</c> makes loopback count
/// as remote), also over HTTPS.
/// </summary>
public sealed class RegistrationTokenTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OffLoopback_TheGatewayReportsWithTheTokenItsCertificateCameWith()
    {
        await using var gateway = await GatewayProcess.StartAsync(new MeshConfig { Services = [new() { Name = "home" }] },
            controlPlaneArguments: ["--ControlPlane:OpenOnLoopback=false"]);

        // Up to date only once its report of the snapshot it applied was taken.
        await Eventually.UntilAsync(async () =>
        {
            var proxies = (await gateway.ControlPlane.Admin.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel))!.Proxies;
            return proxies.Any(p => p is { Kind: "gateway", Name: "edge", UpToDate: true });
        }, GatewayProcess.Deadline, () => $"gateway edge to report the current snapshot (control plane: {gateway.ControlPlane.Process.Output[^Math.Min(2000, gateway.ControlPlane.Process.Output.Length)..]})");

        // No report of it was refused on the way: read once the control plane has stopped, so that a late line counts.
        var code = await gateway.ControlPlane.Process.StopAsync(TimeSpan.FromSeconds(20)).WaitAsync(GatewayProcess.Deadline, Cancel);
        Assert.True(code == 0, $"control plane exited with {code}: {gateway.ControlPlane.Process.Output}");
        Assert.DoesNotContain("[1013]", gateway.ControlPlane.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ControlPlaneOverHttps_TheGatewayGetsItsIdentity_WatchesAndReports_TrustingTheMeshRoot()
    {
        await using var gateway = await GatewayProcess.StartAsync(new MeshConfig { Services = [new() { Name = "home" }] },
            controlPlaneArguments: ["--ControlPlane:OpenOnLoopback=false"], controlPlaneOverHttps: true);

        await Eventually.UntilAsync(async () =>
        {
            var proxies = (await gateway.ControlPlane.Admin.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel))!.Proxies;
            return proxies.Any(p => p is { Kind: "gateway", Name: "edge", UpToDate: true, Watching: true });
        }, GatewayProcess.Deadline, "gateway edge to watch and report over HTTPS");

        await gateway.ControlPlane.Process.WaitForLineAsync(@"Issued spiffe://cluster\.local/ns/default/sa/gateway\.edge", GatewayProcess.Deadline);
    }
}
