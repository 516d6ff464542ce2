using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// HTTP/2 between sidecars, h2c applications, CONNECT tunnels on the outbound port, and gRPC end to end with a real
/// grpc-js client and server (tests/interop/grpc).
/// </summary>
public sealed class ProtocolTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Waits until <paramref name="client"/>'s sidecar routes <paramref name="url"/> to an instance of its service.</summary>
    private static Task UntilRoutedAsync(SidecarProcess client, string url, string instance) =>
        Eventually.UntilAsync(async () =>
        {
            using var http = client.OutboundClient();
            using var response = await http.GetAsync(url, Cancel);
            return response.Headers.TryGetValues(MeshHeaders.Instance, out var served) && served.Single() == instance;
        }, Deadline, $"{url} to be routed to {instance}");

    [Fact]
    public async Task Http2_BetweenSidecars_PeerInboundReceivesHttp2WhileHttp11AppGetsHttp11()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ProtocolTests).Assembly);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url, "--access-log");
        await UntilRoutedAsync(frontend, "http://catalog/ready-check", "catalog-1");
        using var http = frontend.OutboundClient();

        using var response = await http.GetAsync("http://catalog/items/h2", Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("HTTP/1.1", response.Headers.GetValues("x-backend-protocol").Single());
        await catalog.Process.WaitForLineAsync(@"access inbound GET [^ ]+/items/h2 HTTP/2 200 [0-9.]+ms source=frontend", Deadline);
    }

    [Fact]
    public async Task H2cApp_RequestsThroughItsSidecar_ArriveAsHttp2AndTheAppIsHealthy()
    {
        await using var app = await TestBackend.StartAsync("h2-app", HttpProtocols.Http2);
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ProtocolTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "h2svc", "h2svc-1", app.Url, "--app-protocol", "h2c");
        // Ready means registered with an app that passed its health check, which only an HTTP/2 probe can pass.
        await Eventually.UntilAsync(async () => await sidecar.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "the sidecar of an h2c app to be ready");
        // Called as a peer's sidecar calls it (mTLS); the caller's HTTP/1.1 is carried to the app as HTTP/2.
        using var peer = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var http = peer.Client();

        using var response = await http.GetAsync(new Uri(MeshIdentity.Secure(sidecar.Inbound), "items"), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("HTTP/2", response.Headers.GetValues("x-backend-protocol").Single());
    }

    [Fact]
    public async Task Grpc_GrpcJsClientBehindSidecarCallsGrpcJsServerBehindSidecar_UnaryStreamingBidiAndStatusesPass()
    {
        await using var clientApp = await TestBackend.StartAsync("client-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ProtocolTests).Assembly);
        var serverPort = Ports.FreeBelowEphemeral();
        await using var server = await Interop.StartNodeAsync(typeof(ProtocolTests).Assembly, "greeter-app", "grpc/server.js", [$"{serverPort}", "greeter-1"]);
        await server.WaitForLineAsync("grpc server greeter-1 listening", Deadline);
        // A gRPC server answers any HTTP/2 request, so "any answer is healthy" (empty health path) fits it.
        await using var greeter = await SidecarProcess.StartAsync(controlPlane, "greeter", "greeter-1", new Uri($"http://127.0.0.1:{serverPort}"),
            "--app-protocol", "h2c", "--app-health-path", "");
        await using var caller = await SidecarProcess.StartAsync(controlPlane, "caller", "caller-1", clientApp.Url);
        await UntilRoutedAsync(caller, "http://greeter/", "greeter-1");

        // The client finds the sidecar the way an app behind it does: through http_proxy, with a CONNECT tunnel.
        await using var client = await Interop.StartNodeAsync(typeof(ProtocolTests).Assembly, "grpc-client", "grpc/client.js", ["greeter:80"],
            new Dictionary<string, string> { ["http_proxy"] = caller.Outbound.ToString(), ["no_proxy"] = "" });
        var exit = await client.Exited.WaitAsync(Deadline, Cancel);
        Assert.True(exit == 0, $"grpc client exited with {exit}:\n{client.Output}\n--- caller sidecar:\n{caller.Process.Output}");

        var result = JsonDocument.Parse(client.Output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        var unary = result.GetProperty("unary");
        Assert.Equal("hello mesh from greeter-1", unary.GetProperty("message").GetString());
        Assert.Equal("greeter-1", unary.GetProperty("servedBy").GetString()); // a trailer set by the server
        var stream = result.GetProperty("stream");
        Assert.Equal([1, 2, 3, 4, 5], stream.GetProperty("values").EnumerateArray().Select(v => v.GetInt32()));
        Assert.Equal("5", stream.GetProperty("count").GetString());
        Assert.Equal(["echo m1", "echo m2", "echo m3"], result.GetProperty("bidi").GetProperty("messages").EnumerateArray().Select(m => m.GetString()));
        var fail = result.GetProperty("fail");
        Assert.Equal(5, fail.GetProperty("code").GetInt32()); // NOT_FOUND, carried in trailers
        Assert.Equal("no greeting for nobody", fail.GetProperty("details").GetString());
    }

    [Fact]
    public async Task Connect_ToMeshService_TunnelCarriesHttp11ToTheService()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ProtocolTests).Assembly);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await UntilRoutedAsync(frontend, "http://catalog/", "catalog-1");
        using var socket = await RawExchange.ConnectAsync(frontend.Outbound, Cancel);
        await using var stream = new NetworkStream(socket);

        var established = await RawExchange.ExchangeAsync(stream, Deadline, Cancel, "CONNECT catalog:80 HTTP/1.1\r\nHost: catalog:80\r\n\r\n");
        var answer = await RawExchange.ExchangeAsync(stream, Deadline, Cancel, "GET /tunnelled HTTP/1.1\r\nHost: catalog\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", established, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("catalog-app GET /tunnelled", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_ToHostNoRouteServes_403EgressDeniedNamingTheHost()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ProtocolTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);
        await Eventually.UntilAsync(async () => await sidecar.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "the sidecar to be ready");
        using var socket = await RawExchange.ConnectAsync(sidecar.Outbound, Cancel);
        await using var stream = new NetworkStream(socket);

        var answer = await RawExchange.ExchangeAsync(stream, Deadline, Cancel, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 403", answer, StringComparison.Ordinal);
        Assert.Contains($"{MeshHeaders.Error}: {MeshErrors.EgressDenied}", answer, StringComparison.Ordinal);
        Assert.Contains("no service named 'example.com'", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OutboundPort_PlainRequestStartingWithC_StillServedByKestrel()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ProtocolTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);
        using var socket = await RawExchange.ConnectAsync(sidecar.Outbound, Cancel);
        await using var stream = new NetworkStream(socket);

        // Not CONNECT, yet starting with 'C': the tunnel middleware must hand it to the HTTP server as it came.
        var answer = await RawExchange.ExchangeAsync(stream, Deadline, Cancel, "COPY http://payments/a HTTP/1.1\r\nHost: payments\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 404", answer, StringComparison.Ordinal);
        Assert.Contains($"{MeshHeaders.Error}: {MeshErrors.NoRoute}", answer, StringComparison.Ordinal);
    }
}
