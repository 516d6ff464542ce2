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
    /// Kestrel starts each connection on the thread pool and, after a response, finishes it there before it reads
    /// again: a request already read by then is taken on that thread. One that arrives while Kestrel waits is handed over
    /// by the loop that read it, on the loop's thread; of 20 requests on one connection, some are.
    /// </summary>
    [Fact]
    public async Task RequestsOfAKeepAliveConnection_RunOnAnEpollLoopThread()
    {
        await using var app = await StartAsync(context => context.Response.WriteAsync(Thread.CurrentThread.Name ?? "(unnamed)"));
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 };
        using var client = new HttpClient(handler) { Timeout = Deadline };

        var threads = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            threads.Add(await client.GetStringAsync(Url(app, "/"), TestContext.Current.CancellationToken));
        }

        Assert.Contains(threads, thread => thread.StartsWith("epoll loop ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LargeRequestBody_ArrivesWhole()
    {
        await using var app = await StartAsync(async context =>
            await Plain(context, Convert.ToHexString(await SHA256.HashDataAsync(context.Request.Body, context.RequestAborted))));
        using var client = new HttpClient { Timeout = Deadline };
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
        using var client = new HttpClient { Timeout = Deadline };

        var received = await client.GetByteArrayAsync(Url(app, "/"), TestContext.Current.CancellationToken);

        Assert.Equal(SHA256.HashData(body), SHA256.HashData(received));
    }

    /// <summary>
    /// A body more than the input's pause threshold (1 MB) sent while the application does not read it: the loop stops
    /// reading at the threshold, leaving the rest in the kernel, and reads on once the application has caught up.
    /// </summary>
    [Fact]
    public async Task BodyPastThePauseThreshold_WhileTheAppWaits_ReadOnceItReads()
    {
        var (response, hash) = await PostPastThePauseThresholdAsync(clientsFin: false);

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.EndsWith(hash, response, StringComparison.Ordinal);
    }

    /// <summary>
    /// As above, with the client's end of sending right after the body, while the loop is paused: once the application
    /// reads, the loop reads the rest and the end, and the connection ends within the deadline (Kestrel may take the
    /// end as the client's going away before it answers; an answer that went out is whole).
    /// </summary>
    [Fact]
    public async Task ClientsFinWhileThePauseLasts_SeenOnceTheAppReads()
    {
        var (response, hash) = await PostPastThePauseThresholdAsync(clientsFin: true);

        Assert.True(response.Length == 0 || response.EndsWith(hash, StringComparison.Ordinal), response);
    }

    // Posts 1 MB + 64 KB to an app that reads nothing until the whole body is in the kernel (the loop's 1 MB, the rest
    // in the socket buffers), then answers with the body's hash; returns what came back before the connection ended.
    private static async Task<(string Response, string Hash)> PostPastThePauseThresholdAsync(bool clientsFin)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await StartAsync(async context =>
        {
            await gate.Task;
            await Plain(context, Convert.ToHexString(await SHA256.HashDataAsync(context.Request.Body, context.RequestAborted)));
        });
        var body = RandomNumberGenerator.GetBytes((1024 + 64) * 1024);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { SendBufferSize = 4 * 1024 * 1024 };
        await socket.ConnectAsync(Endpoint(app), TestContext.Current.CancellationToken);
        await using var stream = new NetworkStream(socket);

        var close = clientsFin ? "" : "Connection: close\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: {body.Length}\r\n{close}\r\n"), TestContext.Current.CancellationToken);
        await stream.WriteAsync(body, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
        if (clientsFin)
        {
            socket.Shutdown(SocketShutdown.Send);
        }

        gate.SetResult();
        using var reader = new StreamReader(stream);
        var response = await reader.ReadToEndAsync(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        return (response, Convert.ToHexString(SHA256.HashData(body)));
    }

    [Fact]
    public async Task ManyKeepAliveConnections_EachRequestGetsItsOwnAnswer()
    {
        await using var app = await StartAsync(context => context.Response.WriteAsync(context.Request.Query["id"].ToString()));
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 16 };
        using var client = new HttpClient(handler) { Timeout = Deadline };

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
            // Holds the request open until its abort is signalled (or the test run ends).
            await aborted.Task.WaitAsync(TestContext.Current.CancellationToken);
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
        var (response, client) = await ExchangeAsync(Endpoint(app), "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", clientsFin: false);

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.EndsWith($"{client} {Endpoint(app).Port}", response, StringComparison.Ordinal);
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

        var (response, _) = await ExchangeAsync(Endpoint(app), "GET / HTTP/1.1\r\nHost: test\r\n\r\n", clientsFin: true);

        Assert.True(response.Length == 0 || (response.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && response.EndsWith("answered", StringComparison.Ordinal)), response);
    }

    // Sends request over a new connection (then the client's end of sending, if asked) and reads what comes back until
    // the server closes its side; returns it with the client's own address.
    private static async Task<(string Response, EndPoint Client)> ExchangeAsync(IPEndPoint server, string request, bool clientsFin)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server, TestContext.Current.CancellationToken);
        await using var stream = new NetworkStream(socket);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), TestContext.Current.CancellationToken);
        if (clientsFin)
        {
            socket.Shutdown(SocketShutdown.Send);
        }

        using var reader = new StreamReader(stream);
        var response = await reader.ReadToEndAsync(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        return (response, socket.LocalEndPoint!);
    }

    [Fact]
    public async Task ServerClosesAfterResponse_ClientReadsTheResponseThenTheEnd()
    {
        await using var app = await StartAsync(context =>
        {
            context.Response.Headers.Connection = "close";
            return Plain(context, "bye");
        });
        var (response, _) = await ExchangeAsync(Endpoint(app), "GET / HTTP/1.1\r\nHost: test\r\n\r\n", clientsFin: false);

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
