using System.Net;
using AspireMesh.Mesh.Bench;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AspireMesh.Bench.Tests;

public sealed class OpenLoopGeneratorTests
{
    private static async Task<(WebApplication App, Uri Url)> ServeAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return (app, new Uri(app.Urls.Single()));
    }

    [Fact]
    public async Task RunAsync_ConstantRate_SendsEveryScheduledRequestAndRecordsEach()
    {
        var received = 0;
        var (app, url) = await ServeAsync(context =>
        {
            Interlocked.Increment(ref received);
            return context.Response.WriteAsync("ok");
        });
        await using var _ = app;
        using var client = OpenLoopGenerator.CreateClient(HttpVersion.Version11, 16);

        var result = await OpenLoopGenerator.RunAsync(client, new LoadTarget(url, null, HttpVersion.Version11), rate: 200, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(30));

        Assert.Equal(100, result.Scheduled);
        Assert.Equal(100, result.Succeeded);
        Assert.Equal(0, result.Failed);
        Assert.Equal(100, result.Latency.Count);
        Assert.Equal(100, received);
    }

    [Fact]
    public async Task RunAsync_ServerAnswers500_CountedAsFailedNotAsLatency()
    {
        var (app, url) = await ServeAsync(context =>
        {
            context.Response.StatusCode = 500;
            return Task.CompletedTask;
        });
        await using var _ = app;
        using var client = OpenLoopGenerator.CreateClient(HttpVersion.Version11, 16);

        var result = await OpenLoopGenerator.RunAsync(client, new LoadTarget(url, null, HttpVersion.Version11), rate: 100, TimeSpan.FromSeconds(0.2), TimeSpan.FromSeconds(30));

        Assert.Equal(20, result.Failed);
        Assert.Equal(0, result.Latency.Count);
    }

    [Fact]
    public async Task RunAsync_ServerStallsFirstRequest_KeepsSendingAndCountsTheStallFromTheIntendedTime()
    {
        // The first request to arrive is held until the fifth has arrived: a closed-loop generator would wait for it and
        // never send the fifth. This one keeps its schedule, and the held request's latency, counted from its intended
        // send time (never later than its arrival), includes the whole stall: at least the time between the first and
        // the fifth arrival, measured here on the server's clock whatever order the connections delivered them in.
        var count = 0;
        long firstArrived = 0, fifthArrived = 0;
        var fifth = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (app, url) = await ServeAsync(async context =>
        {
            var n = Interlocked.Increment(ref count);
            if (n == 1)
            {
                Volatile.Write(ref firstArrived, System.Diagnostics.Stopwatch.GetTimestamp());
                await fifth.Task;
            }
            else if (n == 5)
            {
                Volatile.Write(ref fifthArrived, System.Diagnostics.Stopwatch.GetTimestamp());
                fifth.TrySetResult();
            }

            await context.Response.WriteAsync("ok");
        });
        await using var _ = app;
        using var client = OpenLoopGenerator.CreateClient(HttpVersion.Version11, 16);

        var result = await OpenLoopGenerator.RunAsync(client, new LoadTarget(url, null, HttpVersion.Version11), rate: 100, TimeSpan.FromSeconds(0.2), TimeSpan.FromSeconds(30));

        var stall = System.Diagnostics.Stopwatch.GetElapsedTime(Volatile.Read(ref firstArrived), Volatile.Read(ref fifthArrived));
        Assert.Equal(20, result.Succeeded);
        Assert.True(stall > TimeSpan.Zero, "the fifth request arrived while the first was held");
        Assert.True(result.Latency.Max >= (long)stall.TotalNanoseconds, $"the held request's latency {result.Latency.Max} ns is less than the {stall.TotalMilliseconds:0.0} ms it was held");
    }

    [Fact]
    public async Task RunAsync_Http2PriorKnowledge_ReachesAnHttp2OnlyListener()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2));
        await using var app = builder.Build();
        app.Run(context => context.Response.WriteAsync(context.Request.Protocol));
        await app.StartAsync(TestContext.Current.CancellationToken);
        using var client = OpenLoopGenerator.CreateClient(HttpVersion.Version20, 1);

        var result = await OpenLoopGenerator.RunAsync(client, new LoadTarget(new Uri(app.Urls.Single()), "backend", HttpVersion.Version20), rate: 100, TimeSpan.FromSeconds(0.2),
            TimeSpan.FromSeconds(30));

        Assert.Equal(20, result.Succeeded);
        Assert.Equal(0, result.Failed);
    }
}
