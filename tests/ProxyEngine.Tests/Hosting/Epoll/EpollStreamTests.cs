using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AspireMesh.ProxyEngine.Hosting.Epoll;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Hosting.Epoll;

/// <summary>
/// Connections to cleartext upstreams on the proxy's own epoll loops (<see cref="EpollTransport.ConnectAsync"/>), as
/// HttpClient uses them under <c>--io auto</c>, against real Kestrel servers and sockets.
/// </summary>
public sealed class EpollStreamTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task LargeResponse_ArrivesWhole_OverOneReusedConnection()
    {
        var body = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        var connections = new HashSet<string>();
        await using var upstream = await StartAsync(context =>
        {
            lock (connections)
            {
                connections.Add(context.Connection.Id);
            }

            return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
        });
        using var client = Client();

        for (var i = 0; i < 3; i++)
        {
            var received = await client.GetByteArrayAsync(upstream.Url, TestContext.Current.CancellationToken);
            Assert.Equal(SHA256.HashData(body), SHA256.HashData(received));
        }

        Assert.Single(connections);
    }

    [Fact]
    public async Task LargeRequestBody_ArrivesWhole()
    {
        await using var upstream = await StartAsync(async context =>
            await context.Response.WriteAsync(Convert.ToHexString(await SHA256.HashDataAsync(context.Request.Body, context.RequestAborted))));
        using var client = Client();
        var body = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);

        using var response = await client.PostAsync(upstream.Url, new ByteArrayContent(body), TestContext.Current.CancellationToken);

        Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>
    /// An upstream whose responses have no length and end where it closes the connection (the data and its end
    /// arriving together): each body is read to its end, and the next request opens a new connection.
    /// </summary>
    [Fact]
    public async Task BodiesEndingAtClose_EachReadWhole_EachOnANewConnection()
    {
        using var listener = Listen();
        var served = Task.Run(async () =>
        {
            for (var n = 0; n < 3; n++)
            {
                using var connection = await listener.AcceptAsync(TestContext.Current.CancellationToken);
                var request = new byte[4096];
                var length = 0;
                while (!Encoding.ASCII.GetString(request, 0, length).Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var received = await connection.ReceiveAsync(request.AsMemory(length), TestContext.Current.CancellationToken);
                    length += received > 0 ? received : throw new IOException("The client closed before its request ended.");
                }

                await connection.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nconnection {n}"), TestContext.Current.CancellationToken);
                connection.Shutdown(SocketShutdown.Both);
            }
        }, TestContext.Current.CancellationToken);
        using var client = Client();
        var url = new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}/");

        var answers = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add(await client.GetStringAsync(url, TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken));
        }

        Assert.Equal(["connection 0", "connection 1", "connection 2"], answers);
        await served.WaitAsync(Deadline, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task NothingListening_FailsWithConnectionRefused()
    {
        using var client = Client();

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(Ports.ClosedUrl(), TestContext.Current.CancellationToken));

        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task ZeroByteRead_CompletesWhenDataArrives_WithoutTakingIt()
    {
        await using var pair = await ConnectedPairAsync();
        var (stream, server) = (pair.Stream, pair.Server);

        var waiting = stream.ReadAsync(Memory<byte>.Empty, TestContext.Current.CancellationToken).AsTask();
        Assert.False(waiting.IsCompleted, "the zero-byte read completed before anything was sent");
        await server.SendAsync(Encoding.ASCII.GetBytes("hello"), TestContext.Current.CancellationToken);

        Assert.Equal(0, await waiting.WaitAsync(Deadline, TestContext.Current.CancellationToken));
        var buffer = new byte[16];
        var read = await stream.ReadAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal("hello", Encoding.ASCII.GetString(buffer, 0, read));
    }

    [Fact]
    public async Task WaitingRead_Cancelled_ThrowsOperationCanceled_AndTheStreamReadsOn()
    {
        await using var pair = await ConnectedPairAsync();
        var (stream, server) = (pair.Stream, pair.Server);
        using var cancel = new CancellationTokenSource();
        var buffer = new byte[16];

        var waiting = stream.ReadAsync(buffer, cancel.Token).AsTask();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Deadline, TestContext.Current.CancellationToken));
        await server.SendAsync(Encoding.ASCII.GetBytes("later"), TestContext.Current.CancellationToken);
        var read = await stream.ReadAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal("later", Encoding.ASCII.GetString(buffer, 0, read));
    }

    [Fact]
    public async Task PeerSendsThenCloses_BeforeTheRead_ReadsTheDataThenZero()
    {
        await using var pair = await ConnectedPairAsync();
        var (stream, server) = (pair.Stream, pair.Server);
        using (server)
        {
            await server.SendAsync(Encoding.ASCII.GetBytes("x"), TestContext.Current.CancellationToken);
            server.Shutdown(SocketShutdown.Both);
        }

        var buffer = new byte[16];
        var first = await stream.ReadAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
        var second = await stream.ReadAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);

        Assert.Equal("x", Encoding.ASCII.GetString(buffer, 0, first));
        Assert.Equal(0, second);
    }

    [Fact]
    public async Task PeerCloses_ReadReturnsZero()
    {
        await using var pair = await ConnectedPairAsync();
        var (stream, server) = (pair.Stream, pair.Server);

        var waiting = stream.ReadAsync(new byte[16], TestContext.Current.CancellationToken).AsTask();
        server.Dispose();

        Assert.Equal(0, await waiting.WaitAsync(Deadline, TestContext.Current.CancellationToken));
    }

    private static Socket Listen()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        return listener;
    }

    // A stream on the loops connected to a plain socket (the server's end), for reads driven byte by byte.
    private static async Task<Pair> ConnectedPairAsync()
    {
        using var listener = Listen();
        var stream = await Connect(((IPEndPoint)listener.LocalEndPoint!).Port);
        return new Pair(stream, await listener.AcceptAsync(TestContext.Current.CancellationToken));
    }

    private sealed record Pair(Stream Stream, Socket Server) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Server.Dispose();
            await Stream.DisposeAsync();
        }
    }

    private static async Task<Stream> Connect(int port)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/");
        return await EpollTransport.ConnectAsync(new DnsEndPoint("127.0.0.1", port), request, EpollLoops.Process, TestContext.Current.CancellationToken);
    }

    private static HttpClient Client() => new(new SocketsHttpHandler
    {
        ConnectCallback = EpollTransport.ConnectCallback(EpollLoops.Process),
    })
    {
        Timeout = Deadline,
    };

    private static async Task<Upstream> StartAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new Upstream(app, new Uri(AspireMesh.ProxyEngine.Hosting.ListenerHost.BoundAddresses(app)[0]));
    }

    private sealed record Upstream(WebApplication App, Uri Url) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }
}
