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

    /// <summary>
    /// The second request of a connection: Kestrel starts each connection on the thread pool, and may read the first
    /// request there if it has arrived by then; from then on it waits for data, which the loop hands it.
    /// </summary>
    [Fact]
    public async Task SecondRequestOfAConnection_RunsOnAnEpollLoopThread()
    {
        await using var app = await StartAsync(context => context.Response.WriteAsync(Thread.CurrentThread.Name ?? "(unnamed)"));
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 };
        using var client = new HttpClient(handler);

        await client.GetStringAsync(Url(app, "/"), TestContext.Current.CancellationToken);
        var thread = await client.GetStringAsync(Url(app, "/"), TestContext.Current.CancellationToken);

        Assert.StartsWith("epoll loop ", thread, StringComparison.Ordinal);
    }

    /// <summary>8 MB: eight times the input's pause threshold, so the loop stops reading and resumes several times.</summary>
    [Fact]
    public async Task LargeRequestBody_ArrivesWhole()
    {
        await using var app = await StartAsync(async context =>
            await Plain(context, Convert.ToHexString(await SHA256.HashDataAsync(context.Request.Body, context.RequestAborted))));
        using var client = new HttpClient();
        var body = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);

        using var response = await client.PostAsync(Url(app, "/"), new ByteArrayContent(body), TestContext.Current.CancellationToken);

        Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>8 MB: many times the output's pause threshold and the kernel's send buffer, so sends wait to be writable.</summary>
    [Fact]
    public async Task LargeResponseBody_ArrivesWhole()
    {
        var body = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        await using var app = await StartAsync(context =>
        {
            context.Response.ContentLength = body.Length;
            return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
        });
        using var client = new HttpClient();

        var received = await client.GetByteArrayAsync(Url(app, "/"), TestContext.Current.CancellationToken);

        Assert.Equal(SHA256.HashData(body), SHA256.HashData(received));
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

    /// <summary>
    /// A request and the client's end of sending in one event: the server sees the end and closes the connection, not
    /// after its keep-alive timeout (over two minutes). Kestrel takes a client's end as its going away, so whether the
    /// response went out first depends on timing, as on Kestrel's own socket transport; if it did, it is whole.
    /// </summary>
    [Fact]
    public async Task RequestThenClientsFin_ConnectionEndsAtOnce()
    {
        await using var app = await StartAsync(context => Plain(context, "answered"));

        var response = await RequestThenFinAsync(Endpoint(app));

        Assert.True(response.Length == 0 || (response.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && response.EndsWith("answered", StringComparison.Ordinal)), response);
    }

    private static async Task<string> RequestThenFinAsync(IPEndPoint endpoint)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endpoint, TestContext.Current.CancellationToken);
        await using var stream = new NetworkStream(socket);
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: test\r\n\r\n"), TestContext.Current.CancellationToken);
        socket.Shutdown(SocketShutdown.Send);
        using var reader = new StreamReader(stream);
        // Returns once the server has closed its side.
        return await reader.ReadToEndAsync(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
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
