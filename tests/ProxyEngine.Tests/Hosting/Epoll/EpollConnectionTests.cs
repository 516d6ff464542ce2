using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AspireMesh.ProxyEngine.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Hosting.Epoll;

/// <summary>
/// Kestrel on the proxy's own epoll loops (a plain HTTP/1.1 listener under <c>--io auto</c>), through real sockets:
/// requests run on a loop's thread, bodies larger than every buffer pass whole both ways, and a client that goes away
/// aborts its request.
/// </summary>
public sealed class EpollConnectionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Request_RunsOnAnEpollLoopThread()
    {
        await using var app = await StartAsync(context => context.Response.WriteAsync(Thread.CurrentThread.Name ?? "(unnamed)"));
        using var client = new HttpClient();

        var thread = await client.GetStringAsync(Url(app, "/"), TestContext.Current.CancellationToken);

        Assert.StartsWith("epoll loop ", thread, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LargeBody_EchoedBack_ArrivesWhole()
    {
        await using var app = await StartAsync(async context =>
        {
            context.Response.ContentType = "application/octet-stream";
            await context.Request.Body.CopyToAsync(context.Response.Body, context.RequestAborted);
        });
        using var client = new HttpClient();
        // 8 MB: eight times the input's pause threshold and many times the output's, so both ends wait for the other.
        var body = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);

        using var response = await client.PostAsync(Url(app, "/echo"), new ByteArrayContent(body), TestContext.Current.CancellationToken);
        var echoed = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body.Length, echoed.Length);
        Assert.Equal(SHA256.HashData(body), SHA256.HashData(echoed));
    }

    [Fact]
    public async Task ManyKeepAliveConnections_EachRequestGetsItsOwnAnswer()
    {
        await using var app = await StartAsync(context => context.Response.WriteAsync(context.Request.Query["id"].ToString()));
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 16 };
        using var client = new HttpClient(handler);

        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(async worker =>
        {
            var wrong = new List<string>();
            for (var i = 0; i < 100; i++)
            {
                var id = $"{worker}-{i}";
                var answer = await client.GetStringAsync(Url(app, $"/?id={id}"), TestContext.Current.CancellationToken);
                if (answer != id)
                {
                    wrong.Add($"{id} answered {answer}");
                }
            }

            return wrong;
        }));

        Assert.Empty(answers.SelectMany(a => a));
    }

    [Fact]
    public async Task ClientClosesMidRequest_RequestAborted()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await StartAsync(async context =>
        {
            context.RequestAborted.Register(() => aborted.TrySetResult());
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(Endpoint(app), TestContext.Current.CancellationToken);
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /slow HTTP/1.1\r\nHost: test\r\n\r\n"), TestContext.Current.CancellationToken);
        await started.Task.WaitAsync(Deadline, TestContext.Current.CancellationToken);

        socket.Close();

        await aborted.Task.WaitAsync(Deadline, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task RemoteEndPoint_IsTheClientsAddressAndPort()
    {
        await using var app = await StartAsync(context => Plain(context, $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort} {context.Connection.LocalPort}"));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(Endpoint(app), TestContext.Current.CancellationToken);
        await using var stream = new NetworkStream(socket);

        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"), TestContext.Current.CancellationToken);
        using var reader = new StreamReader(stream);
        var response = await reader.ReadToEndAsync(TestContext.Current.CancellationToken);

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.EndsWith($"{socket.LocalEndPoint} {Endpoint(app).Port}", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerClosesAfterResponse_ClientReadsTheResponseThenTheEnd()
    {
        await using var app = await StartAsync(context =>
        {
            context.Response.Headers.Connection = "close";
            return Plain(context, "bye");
        });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(Endpoint(app), TestContext.Current.CancellationToken);
        await using var stream = new NetworkStream(socket);

        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: test\r\n\r\n"), TestContext.Current.CancellationToken);
        using var reader = new StreamReader(stream);
        // ReadToEnd returns only once the server's side of the connection is closed.
        var response = await reader.ReadToEndAsync(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.EndsWith("bye", response, StringComparison.Ordinal);
    }

    // With its length given, the body is the response's last bytes (not chunked).
    private static Task Plain(HttpContext context, string body)
    {
        context.Response.ContentLength = Encoding.UTF8.GetByteCount(body);
        return context.Response.WriteAsync(body);
    }

    private static async Task<WebApplication> StartAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.PreferInline()));
        ListenerHost.AddScheduledSockets(builder.Services, IoMode.Auto);
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return app;
    }

    private static IPEndPoint Endpoint(WebApplication app) => new(IPAddress.Loopback, new Uri(ListenerHost.BoundAddresses(app)[0]).Port);

    private static Uri Url(WebApplication app, string pathAndQuery) => new(new Uri(ListenerHost.BoundAddresses(app)[0]), pathAndQuery);
}
