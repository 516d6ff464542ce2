using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;
using AspireMesh.ProxyEngine;

namespace AspireMesh.Gateway.Tests;

/// <summary>The gateway as a real process, routing by the control plane's config to registered instances.</summary>
public sealed class GatewayTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static readonly MeshConfig Config = new()
    {
        Services = [new() { Name = "home" }, new() { Name = "api" }],
        Routes =
        [
            new() { Name = "home", ParentRefs = [new() { Name = "edge" }], Rules = [new() { Matches = [new() { Path = new() { Type = "Exact", Value = "/" } }], BackendRefs = [new() { Name = "home" }] }] },
            new() { Name = "api", ParentRefs = [new() { Name = "edge" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/api" } }], BackendRefs = [new() { Name = "api" }] }] },
        ],
    };

    private ControlPlaneProcess _controlPlane = null!;
    private TestProcess _gateway = null!;
    private HttpClient _client = null!;
    private Uri _admin = null!;
    private string _stateDirectory = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        // Instances are registered without heartbeats: a long lease keeps them for the whole test on a slow machine.
        _controlPlane = await ControlPlaneProcess.StartAsync(typeof(GatewayTests).Assembly, Config, "--ControlPlane:LeaseDuration=00:10:00");
        _stateDirectory = Directory.CreateTempSubdirectory("aspiremesh-gw-").FullName;
        // Ports chosen by the kernel at bind time (no free-then-bind race); the gateway says which once it listens.
        _gateway = await TestProcess.StartDotnetAsync("gateway", BuiltProjects.Assembly(typeof(GatewayTests).Assembly, "Gateway.csproj"),
            ["--name", "edge", "--host", "127.0.0.1", "--port", "0", "--admin-port", "0", "--control-plane", _controlPlane.Url.ToString(), "--state-dir", _stateDirectory],
            ControlPlaneProcess.GatewayEnvironment("edge"));
        var listening = await _gateway.WaitForLineAsync(@"Gateway edge listening: (\S+), admin (\S+)$", Deadline);
        _client = new HttpClient { BaseAddress = new Uri(listening.Groups[1].Value), Timeout = Deadline };
        _admin = new Uri(listening.Groups[2].Value);
        await Eventually.UntilAsync(async () => (await _client.GetAsync(new Uri(_admin, "ready"))).IsSuccessStatusCode, Deadline, "the gateway to be ready");
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
        await _controlPlane.DisposeAsync();
        Directory.Delete(_stateDirectory, recursive: true);
    }

    private async Task RegisterAsync(string id, string service, Uri address) =>
        await _controlPlane.Client.RegisterAsync(id, new InstanceRegistration(service, address.ToString().TrimEnd('/'), true), Cancel);

    private async Task<string?> ServedByAsync(string path)
    {
        using var response = await _client.GetAsync(path, Cancel);
        return response.IsSuccessStatusCode ? response.Headers.GetValues("x-backend").Single() : null;
    }

    [Fact]
    public async Task Route_ExactAndPrefixMatches_EachGoToItsService()
    {
        await using var home = await TestBackend.StartAsync("home-app");
        await using var api = await TestBackend.StartAsync("api-app");
        await RegisterAsync("home-1", "home", home.Url);
        await RegisterAsync("api-1", "api", api.Url);
        await Eventually.UntilAsync(async () => await ServedByAsync("/api/products") == "api-app", Deadline, "the api route to reach api-1");

        Assert.Equal("home-app", await ServedByAsync("/"));
        Assert.Equal("api-app", await ServedByAsync("/api"));
        using var response = await _client.GetAsync("/api/products?x=1", Cancel);
        Assert.Equal("api-app GET /api/products", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Theory]
    [InlineData("/index.html")]
    [InlineData("/apix")]
    public async Task Route_NoneMatches_404NoRouteWithReason(string path)
    {
        using var response = await _client.GetAsync(path, Cancel);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(MeshErrors.NoRoute, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal($"no-route: no route of gateway 'edge' matched GET {path}.\n", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task Route_ServiceWithoutInstances_503NoHealthyEndpointAtOnce()
    {
        using var response = await _client.GetAsync("/api/products", Cancel);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(MeshErrors.NoHealthyEndpoint, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal("no-healthy-endpoint: service 'api' has no healthy instance.\n", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task Route_InstanceDeregistered_TrafficMovesToTheOthers()
    {
        await using var first = await TestBackend.StartAsync("api-a");
        await using var second = await TestBackend.StartAsync("api-b");
        await RegisterAsync("api-1", "api", first.Url);
        await RegisterAsync("api-2", "api", second.Url);
        var seen = new HashSet<string>();
        await Eventually.UntilAsync(async () => seen.Add(await ServedByAsync("/api") ?? "") && seen.Contains("api-a") && seen.Contains("api-b"),
            Deadline, "both api instances to serve");

        await _controlPlane.Client.DeregisterAsync("api-2", Cancel);

        await Eventually.UntilAsync(async () =>
        {
            for (var i = 0; i < 4; i++)
            {
                if (await ServedByAsync("/api") != "api-a")
                {
                    return false;
                }
            }

            return true;
        }, Deadline, "only api-a to serve");
    }

    [Fact]
    public async Task Start_PortAlreadyInUse_ExitsWithTheAddressAndReason()
    {
        using var squatter = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;

        var state = Directory.CreateTempSubdirectory("aspiremesh-gw-").FullName;
        try
        {
            await using var gateway = await TestProcess.StartDotnetAsync("gateway-2", BuiltProjects.Assembly(typeof(GatewayTests).Assembly, "Gateway.csproj"),
                ["--name", "edge", "--host", "127.0.0.1", "--port", $"{port}", "--admin-port", "0", "--control-plane", _controlPlane.Url.ToString(), "--state-dir", state],
                ControlPlaneProcess.GatewayEnvironment("edge"));

            Assert.Equal(3, await gateway.Exited.WaitAsync(Deadline, Cancel));
            Assert.Contains($"error: cannot listen: Failed to bind to address http://127.0.0.1:{port}: address already in use.", gateway.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
