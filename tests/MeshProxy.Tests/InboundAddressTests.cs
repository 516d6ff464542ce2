using System.Net;
using System.Net.Sockets;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// --inbound-address and --advertise-host: where the inbound listeners bind and the address the instance registers
/// (in a pod: bind 0.0.0.0, advertise the pod IP). Every address here is a loopback one.
/// </summary>
public sealed class InboundAddressTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task InboundAddress_OtherLoopbackAddress_BindsThereRegistersItAndServesPeers()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(InboundAddressTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url, "--inbound-address", "127.0.0.2");

        Assert.Equal("127.0.0.2", sidecar.Inbound.Host);
        await Eventually.UntilAsync(async () => (await controlPlane.GetServicesAsync()).Services.Any(s => s.Name == "catalog" && s.Instances.Count == 1),
            Deadline, "catalog-1 registered");
        var instance = (await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "catalog").Instances.Single();
        Assert.Equal($"http://127.0.0.2:{sidecar.Inbound.Port}", instance.Address);
        Assert.StartsWith("http://127.0.0.2:", instance.Http2Address, StringComparison.Ordinal);

        // Bound to 127.0.0.2 only: the same port on 127.0.0.1 is not this listener.
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            var refused = await Assert.ThrowsAsync<SocketException>(async () => await socket.ConnectAsync(IPAddress.Loopback, sidecar.Inbound.Port, Cancel));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }

        using var peer = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var http = peer.Client();
        using var response = await http.GetAsync(new Uri(MeshIdentity.Secure(new Uri(instance.Address)), "items"), Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("app GET /items", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task AdvertiseHost_Name_RegisteredAddressesUseItAndPeersReachThem()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(InboundAddressTests).Assembly);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url, "--advertise-host", "localhost");
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);

        await Eventually.UntilAsync(async () => (await controlPlane.GetServicesAsync()).Services.Any(s => s.Name == "catalog" && s.Instances.Count == 1),
            Deadline, "catalog-1 registered");
        var instance = (await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "catalog").Instances.Single();
        Assert.Equal($"http://localhost:{catalog.Inbound.Port}", instance.Address);
        Assert.StartsWith("http://localhost:", instance.Http2Address, StringComparison.Ordinal);

        // A peer's sidecar calls the advertised name (over mTLS: the identity, not the host name, is checked).
        using var client = frontend.OutboundClient();
        string? body = null;
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync("http://catalog/items", Cancel);
            body = await response.Content.ReadAsStringAsync(Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, Deadline, "frontend's sidecar to reach catalog at its advertised address");
        Assert.Equal("catalog-app GET /items", body);
    }

    [Theory]
    [InlineData("0.0.0.0", "--inbound-address 0.0.0.0 needs --advertise-host")]
    [InlineData("not-an-ip", "--inbound-address: 'not-an-ip' is not an IP address")]
    public async Task InboundAddress_Invalid_RefusedWithReason(string address, string expected)
    {
        await using var process = await TestProcess.StartDotnetAsync("sidecar", SidecarProcess.Assembly,
            ["--service", "catalog", "--app-url", "http://127.0.0.1:1", "--control-plane", "http://127.0.0.1:1", "--inbound-address", address]);

        var code = await process.Exited.WaitAsync(Deadline, Cancel);

        Assert.True(code != 0, process.Output);
        Assert.Contains(expected, process.Output, StringComparison.Ordinal);
    }
}
