using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// An app that knows Consul and nothing of the mesh (a Node app with the real node-consul client) joins it through the
/// control plane's Consul API: it registers with a TTL check (or an HTTP check the control plane runs), discovers the
/// mesh's services, watches with blocking queries, and sidecars route to it.
/// </summary>
public sealed class ConsulInteropTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    // The control plane treats its callers as remote ones (OpenOnLoopback=false): the client sends a registration token
    // as its ACL token, the sidecars the tokens their certificates came with.
    [Fact]
    public async Task NodeConsulClient_WithItsAclToken_RegistersDiscoversWatchesAndIsRoutedToBySidecars_DeregistersOnStop()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulInteropTests).Assembly, new MeshConfig
        {
            Services = [new() { Name = "frontend", References = ["orders"] }, new() { Name = "orders" }, new() { Name = "catalog" }],
        }, "--ControlPlane:OpenOnLoopback=false");
        var token = await controlPlane.MintRegistrationTokenAsync("orders");
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Healthy, Deadline, "catalog-1 to be healthy");
        var port = Ports.FreeBelowEphemeral();

        await using var orders = await Interop.StartNodeAsync(typeof(ConsulInteropTests).Assembly, "orders-js", "consul/app.js",
            [new Uri(controlPlane.Url, "v1").ToString(), "orders", $"{port}", "orders-js-1", "catalog", token]);

        // Registered, its TTL check passed, and found among the passing instances, with catalog's sidecar instance.
        var line = await orders.WaitForLineAsync("^discovered (.+)$", Deadline);
        using var discovered = JsonDocument.Parse(line.Groups[1].Value);
        var self = Assert.Single(discovered.RootElement.GetProperty("self").EnumerateArray());
        Assert.Equal("orders-js-1", self.GetProperty("id").GetString());
        Assert.Equal(["js", "v1"], self.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal("node", self.GetProperty("meta").GetProperty("lang").GetString());
        Assert.Equal(["service:orders-js-1", "passing", "alive"], self.GetProperty("checks")[0].EnumerateArray().Select(c => c.GetString()));
        var peer = Assert.Single(discovered.RootElement.GetProperty("other").EnumerateArray());
        Assert.Equal(("catalog-1", "127.0.0.1", catalog.Inbound.Port), (peer.GetProperty("id").GetString(), peer.GetProperty("address").GetString(), peer.GetProperty("port").GetInt32()));
        Assert.Equal("true", peer.GetProperty("meta").GetProperty("secure").GetString());
        Assert.StartsWith("spiffe://", peer.GetProperty("meta").GetProperty("mesh-identity").GetString(), StringComparison.Ordinal);
        var services = discovered.RootElement.GetProperty("services");
        Assert.Equal(["js", "v1"], services.GetProperty("orders").EnumerateArray().Select(t => t.GetString()));
        Assert.True(services.TryGetProperty("catalog", out _) && services.TryGetProperty("frontend", out _), services.GetRawText());
        Assert.EndsWith(":8300", discovered.RootElement.GetProperty("leader").GetString(), StringComparison.Ordinal);

        // A mesh instance of service orders: the frontend's sidecar routes its app's calls to it.
        var instance = (await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "orders").Instances.Single();
        Assert.Equal(("orders-js-1", $"http://127.0.0.1:{port}", InstanceHealth.Healthy), (instance.Id, instance.Address, instance.Health));
        Assert.Equal("orders-js GET /items", await frontend.GetUntilOkAsync(new Uri("http://orders/items"), Deadline, Cancel));

        // Maintenance takes it out of the passing set: the client's blocking query returns with the change, and the
        // mesh stops routing to it.
        await orders.WaitForLineAsync("^watching$", Deadline);
        using (var maintenance = await controlPlane.Http.PutAsync($"v1/agent/service/maintenance/orders-js-1?enable=true&reason=upgrading&token={token}", null, Cancel))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, maintenance.StatusCode);
        }

        await orders.WaitForLineAsync(@"^changed \[\]$", Deadline);
        Assert.Equal((InstanceHealth.Unhealthy, "in Consul maintenance mode: upgrading"),
            (await controlPlane.HealthOfAsync("orders-js-1"), await controlPlane.ReasonOfAsync("orders-js-1")));

        // Stopped, it deregisters and leaves the mesh's registry at once.
        Assert.Equal(0, await orders.StopAsync(TimeSpan.FromSeconds(10)).WaitAsync(Deadline, Cancel));
        Assert.Contains("deregistered", orders.Output.Split('\n'));
        Assert.Empty((await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "orders").Instances);
    }

    [Fact]
    public async Task NodeConsulClient_WithAnHttpCheck_IsProbedByTheControlPlane_AndFoundPassing()
    {
        // Spring Cloud Consul's default registration: an HTTP check the agent runs, nothing passed by the client.
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulInteropTests).Assembly, new MeshConfig { Services = [new() { Name = "orders" }] });
        var port = Ports.FreeBelowEphemeral();

        await using var orders = await Interop.StartNodeAsync(typeof(ConsulInteropTests).Assembly, "orders-js", "consul/app.js",
            [new Uri(controlPlane.Url, "v1").ToString(), "orders", $"{port}", "orders-js-1", "orders", "", "http"]);

        var line = await orders.WaitForLineAsync("^discovered (.+)$", Deadline);
        using var discovered = JsonDocument.Parse(line.Groups[1].Value);
        var self = Assert.Single(discovered.RootElement.GetProperty("self").EnumerateArray());
        Assert.Equal(["service:orders-js-1", "passing", $"HTTP GET http://127.0.0.1:{port}/health: 200 OK Output: orders-js GET /health"],
            self.GetProperty("checks")[0].EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("orders-js-1"));
    }

    [Fact]
    public async Task NodeConsulClient_OverHttps_TrustingTheMeshRoot_Registers()
    {
        // A control plane served over HTTPS, as between machines: the app's runtime is given the mesh's root.
        await using var controlPlane = await ControlPlaneProcess.StartWithHttpsAsync(typeof(ConsulInteropTests).Assembly);
        var root = Path.Combine(controlPlane.StateDirectory, "mesh-root.pem");
        await File.WriteAllTextAsync(root, await controlPlane.TrustBundleAsync(), Cancel);
        var port = Ports.FreeBelowEphemeral();

        await using var orders = await Interop.StartNodeAsync(typeof(ConsulInteropTests).Assembly, "orders-js", "consul/app.js",
            [new Uri(controlPlane.HttpsUrl!, "v1").ToString(), "orders", $"{port}", "orders-js-1", "orders"],
            new Dictionary<string, string> { ["NODE_EXTRA_CA_CERTS"] = root });

        await orders.WaitForLineAsync("^discovered ", Deadline);
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("orders-js-1"));
    }
}
