using System.Net;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Hosting.Epoll;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Tests.Hosting.Epoll;

/// <summary>
/// The process's epoll loops as a whole: when the kernel refuses them, the proxy serves on .NET's socket engine and says
/// why; a loop that a partial start left is stopped; a fault in a connection's code is logged and the loop goes on.
/// </summary>
public sealed class EpollLoopsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task LoopsThatCannotStart_PlainListenerServesOnDotNetsEngine_AndTheLogSaysWhy()
    {
        Assert.SkipUnless(EpollNative.Supported, "the proxy's own loops run on Linux only");
        var loops = new EpollLoops(2, (_, _) => throw new InvalidOperationException("epoll_create1 failed (errno 24)"));
        var log = new LogLines();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders().AddProvider(log);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.PreferInline()));
        ListenerHost.AddScheduledSockets(builder.Services, IoMode.Auto, loops);
        await using var app = builder.Build();
        app.Run(context => context.Response.WriteAsync(Thread.CurrentThread.Name ?? "(unnamed)"));
        await app.StartAsync(TestContext.Current.CancellationToken);
        using var client = new HttpClient { Timeout = Deadline };

        var url = ListenerHost.BoundAddresses(app)[0];
        var thread = await client.GetStringAsync(url, TestContext.Current.CancellationToken);

        Assert.DoesNotContain("epoll loop", thread, StringComparison.Ordinal);
        var bound = Assert.Single(app.Services.GetRequiredService<ScheduledSocketTransport>().Bound);
        Assert.True(bound.Inline);
        Assert.False(bound.OwnLoops);
        Assert.False(loops.Available);
        Assert.Contains(log.Lines, line => line.Contains("epoll loops could not start (epoll_create1 failed (errno 24)); 127.0.0.1:" + new Uri(url).Port + " runs on", StringComparison.Ordinal));
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public void LoopsThatCannotStart_UpstreamConnectionsStayOnDotNetsEngine()
    {
        Assert.SkipUnless(EpollNative.Supported, "the proxy's own loops run on Linux only");
        var loops = new EpollLoops(1, (_, _) => throw new InvalidOperationException("eventfd failed (errno 24)"));
        using var refused = new SocketsHttpHandler();
        using var running = new SocketsHttpHandler();

        IoScheduling.ConfigureUpstreamConnections(refused, IoMode.Auto, loops);
        IoScheduling.ConfigureUpstreamConnections(running, IoMode.Auto, EpollLoops.Process);

        Assert.Null(refused.ConnectCallback);
        Assert.NotNull(running.ConnectCallback);
        Assert.Equal("eventfd failed (errno 24)", loops.Failure);
    }

    /// <summary>The second loop cannot start: none runs, and the first one's thread closes its descriptors and ends.</summary>
    [Fact]
    public async Task SecondLoopCannotStart_TheFirstStops()
    {
        Assert.SkipUnless(EpollNative.Supported, "the proxy's own loops run on Linux only");
        EpollLoop? first = null;
        var loops = new EpollLoops(2, (name, report) => first is null
            ? first = EpollLoop.Start(name, report)
            : throw new InvalidOperationException("eventfd failed (errno 24)"));

        Assert.False(loops.Available);

        Assert.NotNull(first);
        await first.Stopped.WaitAsync(Deadline, TestContext.Current.CancellationToken);
    }

    /// <summary>Not a descriptor but a thread refused (a limit on threads): the proxy runs without the loops as well.</summary>
    [Fact]
    public void LoopsWhoseThreadCannotStart_NoneRuns_AndTheFailureSaysWhy()
    {
        var loops = new EpollLoops(1, (_, _) => throw new OutOfMemoryException("Thread failed to start."));

        Assert.False(loops.Available);
        Assert.Equal("Thread failed to start.", loops.Failure);
    }

    [Fact]
    public async Task FaultInAConnectionsCode_IsLogged_AndTheLoopGoesOn()
    {
        Assert.SkipUnless(EpollNative.Supported, "the proxy's own loops run on Linux only");
        var loops = new EpollLoops(1, EpollLoop.Start);
        var log = new LogLines();
        using var factory = LoggerFactory.Create(b => b.AddProvider(log));
        loops.UseLogger(factory.CreateLogger("epoll"));
        var loop = loops.Next();
        try
        {
            var after = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            loop.Schedule(_ => throw new InvalidOperationException("a handler's bug"), null);
            loop.Schedule(_ => after.SetResult(), null);

            await after.Task.WaitAsync(Deadline, TestContext.Current.CancellationToken);

            Assert.Contains("epoll: A connection's code failed on epoll loop 0, which goes on serving its other connections", log.Lines);
        }
        finally
        {
            loop.Stop();
        }
    }
}
