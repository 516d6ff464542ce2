using System.Net;
using System.Net.Http.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;

namespace AspireMesh.Gateway.Tests;

/// <summary>The gateway's telemetry listener (<c>--telemetry-port</c>): reported to the control plane, metrics for anyone.</summary>
public sealed class TelemetryListenerTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TelemetryPort_Given_ReportedToTheControlPlaneInPlaceOfTheAdminAddress_ServesMetrics()
    {
        await using var gateway = await GatewayProcess.StartAsync(new MeshConfig(), arguments: ["--telemetry-port", "0"]);
        var telemetry = (await gateway.Process.WaitForLineAsync(@"Telemetry listener at (\S+):", GatewayProcess.Deadline)).Groups[1].Value;

        Assert.StartsWith("https://127.0.0.1:", telemetry, StringComparison.Ordinal);
        Contracts.Admin.ProxyInfo? edge = null;
        await Eventually.UntilAsync(async () =>
        {
            var proxies = await gateway.ControlPlane.Admin.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel);
            edge = proxies!.Proxies.SingleOrDefault(p => p.Kind == "gateway" && p.Name == "edge");
            return edge?.TelemetryAddress is not null;
        }, GatewayProcess.Deadline, "the gateway to report its telemetry listener");
        Assert.Equal((telemetry, (string?)null), (edge!.TelemetryAddress, edge.AdminAddress));

        using var plain = new HttpClient { Timeout = GatewayProcess.Deadline };
        using var metrics = await plain.GetAsync(new UriBuilder(telemetry) { Scheme = "http", Path = "/metrics" }.Uri, Cancel);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("# TYPE mesh_requests_total counter", await metrics.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--host 0.0.0.0 --telemetry-port 0", "--telemetry-port on --host 0.0.0.0 needs --advertise-host (the address the control plane reaches this gateway at, e.g. the pod IP).")]
    [InlineData("--host * --telemetry-port 0", "--telemetry-port on --host * needs --advertise-host")]
    [InlineData("--host gateway.example --telemetry-port 0", "--telemetry-port on --host gateway.example needs --advertise-host")]
    [InlineData("--host 127.0.0.1 --name Edge", "--name: 'Edge' is not a gateway name (1-63 lower-case letters")]
    [InlineData("--host 127.0.0.1 --advertise-host 10.1.2.3", "--advertise-host needs --telemetry-port.")]
    [InlineData("--host 127.0.0.1 --telemetry-port 0 --advertise-host bad_host!", "--advertise-host: 'bad_host!' is not a host name or IP address.")]
    public async Task Start_UnusableTelemetryOptionsOrName_ExitsSayingWhatIsWrong(string arguments, string message)
    {
        List<string> args = [.. arguments.Contains("--name", StringComparison.Ordinal) ? Array.Empty<string>() : ["--name", "edge"], "--port", "0", "--admin-port", "0", "--control-plane", Ports.ClosedUrl().ToString(), .. arguments.Split(' ')];
        await using var gateway = await TestProcess.StartDotnetAsync("gateway", BuiltProjects.Assembly(typeof(TelemetryListenerTests).Assembly, "Gateway.csproj"), args);

        Assert.NotEqual(0, await gateway.Exited.WaitAsync(GatewayProcess.Deadline, Cancel));
        Assert.Contains(message, gateway.Output, StringComparison.Ordinal);
    }
}
