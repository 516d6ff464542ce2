using System.Net;
using System.Net.Sockets;
using System.Text;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine;

namespace AspireMesh.ProxyEngine.Tests.Errors;

/// <summary>Failures the mesh produces carry a status, an x-mesh-error reason and a short body.</summary>
public sealed class MeshErrorTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Request_NoRouteMatches_404NoRoute()
    {
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(new ProxySnapshot(1, [], []));

        using var response = await engine.GetAsync("unknown", "/x");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(MeshErrors.NoRoute, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal("no-route: nothing matched unknown /x\n", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task Request_ServiceHasNoHealthyInstance_503AtOnce()
    {
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog"));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(MeshErrors.NoHealthyEndpoint, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal("no-healthy-endpoint: service 'catalog' has no healthy instance.\n", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task Request_UpstreamNeverAnswers_504Timeout()
    {
        await using var silent = await TestBackend.StartAsync("silent");
        silent.Handler = TestBackend.HangUntilAborted;
        await using var engine = await EngineHost.StartAsync(upstreamTimeout: TimeSpan.FromMilliseconds(300));
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", silent.Url));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal(MeshErrors.Timeout, response.Headers.GetValues(MeshHeaders.Error).Single());
    }

    [Fact]
    public async Task Connect_TunnelRequest_501NotSupported()
    {
        await using var engine = await EngineHost.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(engine.Url.Host, engine.Url.Port, Cancel);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n"), Cancel);

        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer, Cancel);
        var head = Encoding.ASCII.GetString(buffer, 0, read);

        Assert.StartsWith("HTTP/1.1 501", head, StringComparison.Ordinal);
        Assert.Contains($"{MeshHeaders.Error}: {MeshErrors.NotSupported}", head, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("application/grpc")]
    [InlineData("application/grpc+proto")]
    public async Task GrpcRequest_NoRouteMatches_TrailersOnlyUnimplementedWithReason(string contentType)
    {
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(new ProxySnapshot(1, [], []));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/meshtest.Greeter/SayHello") { Content = new ByteArrayContent([0, 0, 0, 0, 0]) };
        request.Headers.Host = "unknown";
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);

        using var response = await engine.Client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("12", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal("no-route: nothing matched unknown /meshtest.Greeter/SayHello", response.Headers.GetValues("grpc-message").Single());
        Assert.Equal(MeshErrors.NoRoute, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(Cancel));
    }

    [Fact]
    public async Task GrpcRequest_UpstreamNeverAnswers_DeadlineExceeded()
    {
        await using var silent = await TestBackend.StartAsync("silent");
        silent.Handler = TestBackend.HangUntilAborted;
        await using var engine = await EngineHost.StartAsync(upstreamTimeout: TimeSpan.FromMilliseconds(300));
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", silent.Url));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/meshtest.Greeter/SayHello") { Content = new ByteArrayContent([0, 0, 0, 0, 0]) };
        request.Headers.Host = "catalog";
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");

        using var response = await engine.Client.SendAsync(request, Cancel);

        Assert.Equal("4", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal(MeshErrors.Timeout, response.Headers.GetValues(MeshHeaders.Error).Single());
    }
}
