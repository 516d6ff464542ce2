using System.Net;
using System.Net.Sockets;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;
using AspireMesh.ProxyEngine;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// A sidecar that has registered its instance but not yet received its first snapshot: peers can already route to it
/// and its app can already call out. Nothing passes until the service's policies and routes have come.
/// </summary>
public sealed class FirstSnapshotTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task BeforeItsFirstSnapshot_PeersCallsWaitForTheServicesPolicies_AndTheAppsCallsForItsRoutes()
    {
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var inventoryApp = await TestBackend.StartAsync("inventory-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(FirstSnapshotTests).Assembly, new MeshConfig
        {
            Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog", References = ["inventory"] }, new() { Name = "inventory" }],
            Policies = new()
            {
                Authorization = [new() { Name = "no-frontend", TargetRef = new() { Name = "catalog" }, Action = "Deny", Rules = [new() { FromServices = ["frontend"] }] }],
            },
        });
        await using var inventory = await SidecarProcess.StartAsync(controlPlane, "inventory", "inventory-1", inventoryApp.Url);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("inventory-1") == InstanceHealth.Healthy, Deadline, "inventory-1 to be healthy");
        // catalog's sidecar reaches the control plane through a relay that holds its snapshot watch: it gets its
        // certificate and registers its instance, and no snapshot comes.
        await using var relay = await ControlPlaneRelay.StartAsync(controlPlane.Url);
        await using var catalog = await SidecarProcess.StartAsync(relay.Url, "catalog", "catalog-1", catalogApp.Url, null);
        using var frontend = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var peer = frontend.Client();
        using var app = catalog.OutboundClient();

        // Registered, but not as an instance peers may route to: its app is healthy, its sidecar not configured.
        string? registered = null;
        await Eventually.UntilAsync(async () => (registered = await controlPlane.HealthOfAsync("catalog-1")) is not null, Deadline, "catalog-1 to register");
        Assert.Equal(InstanceHealth.Unhealthy, registered);
        string? reason = null;
        await Eventually.UntilAsync(async () => (reason = await controlPlane.ReasonOfAsync("catalog-1"))?.StartsWith("its sidecar has not applied a snapshot from the control plane yet", StringComparison.Ordinal) == true,
            Deadline, "catalog-1's reason to be its sidecar's missing snapshot");

        // Requests held from here on: each for at most the sidecar's wait for its first snapshot (10 s), so what the test
        // checks before releasing the snapshot is only what needs the requests in flight.
        // A peer whose calls the service's policy denies, and the app's call to a service it references.
        var fromPeer = peer.GetAsync(new Uri(MeshIdentity.Secure(catalog.Inbound), "items"), Cancel);
        var fromApp = app.GetAsync(new Uri("http://inventory/stock"), Cancel);
        // And a tunnel, as a gRPC client behind HTTP_PROXY opens one.
        using var tunnelSocket = await RawExchange.ConnectAsync(catalog.Outbound, Cancel);
        await using var tunnelStream = new NetworkStream(tunnelSocket);
        var tunnel = RawExchange.ExchangeAsync(tunnelStream, Deadline, Cancel, "CONNECT inventory:80 HTTP/1.1\r\nHost: inventory:80\r\n\r\n");
        var holding = Task.WhenAll(
            catalog.Process.WaitForLineAsync("Holding requests to the inbound listener until the first snapshot", Deadline),
            catalog.Process.WaitForLineAsync("Holding requests to the outbound listener until the first snapshot", Deadline),
            catalog.Process.WaitForLineAsync("Holding CONNECT tunnels until the first snapshot", Deadline));
        await Task.WhenAny(holding, fromPeer, fromApp, tunnel);
        Assert.False(tunnel.IsCompleted, $"the tunnel was answered before the first snapshot: {(tunnel.IsCompletedSuccessfully ? await tunnel : "failed")}");
        Assert.False(fromPeer.IsCompleted, $"the peer's call ended before the first snapshot: {await DescribeAsync(fromPeer)}{Environment.NewLine}{catalog.Process.Output}");
        Assert.False(fromApp.IsCompleted, $"the app's call ended before the first snapshot: {await DescribeAsync(fromApp)}{Environment.NewLine}{catalog.Process.Output}");
        await holding;
        Assert.True(relay.HeldWatches > 0, "the sidecar's snapshot watch was not held");
        // (The sidecar's own probes of its app's health are all the app has had.)
        Assert.DoesNotContain("GET /items", catalogApp.Requests);

        relay.ReleaseWatches();

        using var denied = await fromPeer.WaitAsync(Deadline, Cancel);
        var body = await denied.Content.ReadAsStringAsync(Cancel);
        Assert.True(denied.StatusCode == HttpStatusCode.Forbidden, $"expected 403, got {(int)denied.StatusCode}: {body}{Environment.NewLine}{catalog.Process.Output}");
        Assert.Equal(MeshErrors.Denied, denied.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal("no-frontend", denied.Headers.GetValues(MeshHeaders.DeniedBy).Single());
        Assert.DoesNotContain("GET /items", catalogApp.Requests);
        var established = await tunnel.WaitAsync(Deadline, Cancel);
        Assert.StartsWith("HTTP/1.1 200 Connection Established", established, StringComparison.Ordinal);
        using var routed = await fromApp.WaitAsync(Deadline, Cancel);
        Assert.True(routed.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)routed.StatusCode}: {await routed.Content.ReadAsStringAsync(Cancel)}{Environment.NewLine}{catalog.Process.Output}");
        Assert.Equal("inventory-app", routed.Headers.GetValues("x-backend").Single());
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-1") == InstanceHealth.Healthy, Deadline, "catalog-1 to be healthy once configured");
    }

    private static async Task<string> DescribeAsync(Task<HttpResponseMessage> call)
    {
        if (!call.IsCompleted)
        {
            return "still waiting";
        }

        if (!call.IsCompletedSuccessfully)
        {
            return call.Exception?.GetBaseException().Message ?? "canceled";
        }

        return $"{(int)call.Result.StatusCode} {await call.Result.Content.ReadAsStringAsync(Cancel)}";
    }
}
