using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// An app that knows Eureka and nothing of the mesh (a Node app with the real eureka-js-client) joins it through the
/// control plane's Eureka API: it registers, heartbeats and discovers the mesh's services, and sidecars route to it.
/// </summary>
public sealed class EurekaInteropTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <param name="portStyle">How the client writes its port.</param>
    /// <param name="fetch">Whether it fetches the whole registry each time, or deltas after the first.</param>
    /// <param name="offLoopback">
    /// The control plane treats its callers as remote ones (<c>OpenOnLoopback=false</c>): the client registers with a
    /// registration token in its service URL, the sidecars with the tokens their certificates came with.
    /// </param>
    [Theory]
    [InlineData("object", "full", false)]
    [InlineData("bare", "delta", true)]
    public async Task EurekaJsClient_RegistersDiscoversTheMeshAndIsRoutedToBySidecars_DeregistersOnStop(string portStyle, string fetch, bool offLoopback)
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaInteropTests).Assembly, new MeshConfig
        {
            Services = [new() { Name = "frontend", References = ["orders"] }, new() { Name = "orders" }, new() { Name = "catalog" }],
        }, offLoopback ? ["--ControlPlane:OpenOnLoopback=false"] : []);
        var token = offLoopback ? await controlPlane.MintRegistrationTokenAsync("orders") : null;
        // The test changes the registry as an operator would: with the admin token.
        var registry = new AspireMesh.Contracts.Client.ControlPlaneClient(controlPlane.Admin);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Healthy, Deadline, "catalog-1 to be healthy");
        var port = Ports.FreeBelowEphemeral();

        await using var orders = await Interop.StartNodeAsync(typeof(EurekaInteropTests).Assembly, "orders-js", "eureka/app.js",
            [new Uri(controlPlane.Url, "eureka").ToString(), "orders", $"{port}", "orders-js-1", "catalog", portStyle, fetch, .. (token is null ? Array.Empty<string>() : [token])]);

        // Registered (204) and found in the registry it fetched: itself by VIP, and catalog's sidecar instance.
        var line = await orders.WaitForLineAsync("^discovered (.+)$", Deadline);
        using var discovered = JsonDocument.Parse(line.Groups[1].Value);
        Assert.Equal(["orders-js-1"], discovered.RootElement.GetProperty("self").EnumerateArray().Select(e => e.GetString()));
        var peer = Assert.Single(discovered.RootElement.GetProperty("other").EnumerateArray());
        Assert.Equal(("catalog-1", "UP", "catalog"), (peer.GetProperty("instanceId").GetString(), peer.GetProperty("status").GetString(), peer.GetProperty("vipAddress").GetString()));
        Assert.Equal("true", peer.GetProperty("securePort").GetProperty("@enabled").GetString());
        Assert.Equal(new Uri(catalog.Inbound.ToString()).Port, peer.GetProperty("securePort").GetProperty("$").GetInt32());
        Assert.StartsWith("spiffe://", peer.GetProperty("metadata").GetProperty("mesh.identity").GetString(), StringComparison.Ordinal);
        Assert.Contains("registered", orders.Output.Split('\n'));
        await orders.WaitForLineAsync("^heartbeat$", Deadline);

        // A change in the mesh reaches it with its next fetch: the whole registry, or a delta (a client that fetches
        // deltas after its first fetch only ever learns of new instances from them).
        await registry.RegisterAsync("catalog-2", new InstanceRegistration("catalog", "http://127.0.0.1:9", true), Cancel);
        var added = await orders.WaitForLineAsync(@"^known#(\d+) catalog \[""catalog-1"",""catalog-2""\]$", Deadline);
        await registry.DeregisterAsync("catalog-2", Cancel);
        await orders.WaitForLineAsync($@"^known#{int.Parse(added.Groups[1].Value) + 1} catalog \[""catalog-1""\]$", Deadline);

        // A mesh instance of service orders: the frontend's sidecar routes its app's calls to it.
        var instance = (await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "orders").Instances.Single();
        Assert.Equal(("orders-js-1", $"http://127.0.0.1:{port}", InstanceHealth.Healthy), (instance.Id, instance.Address, instance.Health));
        Assert.Equal("orders-js GET /items", await frontend.GetUntilOkAsync(new Uri("http://orders/items?page=1"), Deadline, Cancel));

        // Stopped, it cancels its registration (200) and leaves the mesh's registry at once.
        Assert.Equal(0, await orders.StopAsync(TimeSpan.FromSeconds(10)).WaitAsync(Deadline, Cancel));
        Assert.Contains("deregistered", orders.Output.Split('\n'));
        Assert.Empty((await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "orders").Instances);
    }

    [Fact]
    public async Task ServiceWithASidecarInstanceAndAEurekaOne_CallersReachBoth_TheSidecarOverMtls()
    {
        // Half-way into the mesh: one instance of catalog behind a sidecar (strict mTLS), one registered by its
        // Eureka client, without a sidecar.
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var meshed = await TestBackend.StartAsync("catalog-meshed");
        await using var plain = await TestBackend.StartAsync("catalog-plain");
        var sources = new System.Collections.Concurrent.ConcurrentQueue<string>();
        meshed.Handler = context =>
        {
            sources.Enqueue(context.Request.Headers[AspireMesh.ProxyEngine.MeshHeaders.Source].ToString());
            return Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, $"catalog-meshed {context.Request.Method} {context.Request.Path}");
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaInteropTests).Assembly, new MeshConfig
        {
            Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog" }],
        });
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", meshed.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        using (var registered = await controlPlane.Http.PostAsync("eureka/apps/CATALOG", new StringContent(
            $$"""{"instance": {"instanceId": "catalog-e1", "app": "CATALOG", "hostName": "127.0.0.1", "ipAddr": "127.0.0.1", "port": {{plain.Url.Port}} } }""",
            System.Text.Encoding.UTF8, "application/json"), Cancel))
        {
            Assert.Equal(System.Net.HttpStatusCode.NoContent, registered.StatusCode);
        }

        using var client = frontend.OutboundClient();
        var answers = new HashSet<string>(StringComparer.Ordinal);
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync(new Uri("http://catalog/items"), Cancel);
            var body = await response.Content.ReadAsStringAsync(Cancel);
            answers.Add($"{(int)response.StatusCode} {body}");
            return answers.Contains("200 catalog-meshed GET /items") && answers.Contains("200 catalog-plain GET /items");
        }, Deadline, () => $"both instances of catalog to answer (answers: {string.Join(" | ", answers)})");

        // The sidecar's instance was called over mTLS: its sidecar names the caller it authenticated.
        Assert.Contains("frontend", sources);
    }
}
