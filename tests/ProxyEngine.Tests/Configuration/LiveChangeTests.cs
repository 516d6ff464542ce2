using System.Net;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Configuration;

/// <summary>A config change applies to new requests; requests in flight finish on the config they started with.</summary>
public sealed class LiveChangeTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Apply_WhileRequestInFlight_ItFinishesOnOldBackendAndNewRequestsUseTheNew()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var old = await TestBackend.StartAsync("old");
        old.Handler = async context =>
        {
            arrived.TrySetResult();
            await release.Task.WaitAsync(context.RequestAborted);
            context.Response.Headers["x-backend"] = "old";
            await context.Response.WriteAsync("slow answer from old", context.RequestAborted);
        };
        await using var replacement = await TestBackend.StartAsync("new");
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", old.Url));

        var inFlight = engine.GetAsync("catalog", "/slow");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.Empty(await engine.ApplyAsync(EngineHost.HostSnapshot(2, "catalog", replacement.Url)));

        using (var fresh = await engine.GetAsync("catalog", "/fresh"))
        {
            Assert.Equal("new", fresh.Headers.GetValues("x-backend").Single());
        }

        release.SetResult();
        using var finished = await inFlight.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.Equal(HttpStatusCode.OK, finished.StatusCode);
        Assert.Equal("slow answer from old", await finished.Content.ReadAsStringAsync(Cancel));
    }
}
