using System.Net;
using System.Net.WebSockets;
using System.Text;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace AspireMesh.ProxyEngine.Tests;

/// <summary>Long-lived and streaming protocols pass through the engine unbuffered.</summary>
public sealed class ProtocolTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>One route to one endpoint; with <paramref name="http2"/>, the endpoint offers HTTP/2 (h2c) as a peer sidecar does.</summary>
    private static ProxySnapshot AnyHost(Uri backend, bool http2 = false) =>
        new(1, [new RouteSnapshot("r", null, null, "app") { Backends = [new BackendReference { Name = "app" }] }],
            [new ClusterSnapshot("app", [new EndpointSnapshot("app-1", http2 ? "http://127.0.0.1:9" : backend.ToString().TrimEnd('/'))
            {
                Http2Address = http2 ? backend.ToString().TrimEnd('/') : null,
            }])]);

    [Fact]
    public async Task Http2Endpoint_Request_ForwardedOverHttp2WithPriorKnowledge()
    {
        await using var backend = await TestBackend.StartAsync("h2", HttpProtocols.Http2);
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(AnyHost(backend.Url, http2: true));

        using var response = await engine.Client.GetAsync("/items", Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("HTTP/2", response.Headers.GetValues("x-backend-protocol").Single());
    }

    [Fact]
    public async Task Http2Endpoint_ClusterWithAnEndpointWithoutHttp2_EveryEndpointCalledOverHttp11()
    {
        await using var h1 = await TestBackend.StartAsync("h1");
        var snapshot = new ProxySnapshot(1, [new RouteSnapshot("r", null, null, "app") { Backends = [new BackendReference { Name = "app" }] }],
            [new ClusterSnapshot("app", [
                new EndpointSnapshot("a", h1.Url.ToString().TrimEnd('/')) { Http2Address = "http://127.0.0.1:9" },
                new EndpointSnapshot("b", h1.Url.ToString().TrimEnd('/')),
            ])]);
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(snapshot);

        for (var i = 0; i < 4; i++)
        {
            using var response = await engine.Client.GetAsync("/items", Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("HTTP/1.1", response.Headers.GetValues("x-backend-protocol").Single());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WebSocket_Upgrade_MessagesFlowBothWays(bool http2Endpoint)
    {
        await using var backend = await TestBackend.StartAsync("ws", http2Endpoint ? HttpProtocols.Http2 : HttpProtocols.Http1AndHttp2);
        backend.Handler = async context =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                    return;
                }

                await socket.SendAsync(Encoding.UTF8.GetBytes($"echo {Encoding.UTF8.GetString(buffer, 0, received.Count)}"), WebSocketMessageType.Text, true, context.RequestAborted);
            }
        };
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(AnyHost(backend.Url, http2Endpoint));
        using var client = new ClientWebSocket();

        await client.ConnectAsync(new Uri($"ws://{engine.Url.Authority}/chat"), Cancel);
        var buffer = new byte[1024];
        foreach (var message in new[] { "one", "two" })
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, Cancel);
            var received = await client.ReceiveAsync(buffer, Cancel);
            Assert.Equal($"echo {message}", Encoding.UTF8.GetString(buffer, 0, received.Count));
        }

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Cancel);
        Assert.Equal(WebSocketState.Closed, client.State);
    }

    [Fact]
    public async Task ServerSentEvents_EachEventArrivesBeforeTheNextIsWritten()
    {
        var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync("sse");
        backend.Handler = async context =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n", context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            await next.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("data: second\n\n", context.RequestAborted);
        };
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(AnyHost(backend.Url));

        using var response = await engine.Client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead, Cancel);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Cancel));

        // The second event is only written once the first has reached the client: a buffering proxy would hang here.
        Assert.Equal("data: first", await reader.ReadLineAsync(Cancel));
        next.SetResult();
        Assert.Equal("", await reader.ReadLineAsync(Cancel));
        Assert.Equal("data: second", await reader.ReadLineAsync(Cancel));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
    }
}
