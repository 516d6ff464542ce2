using System.Net;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AspireMesh.ProxyEngine.Tests.Configuration;

/// <summary>
/// A request that reaches a proxy before its first snapshot waits for it (as the sidecar's listeners and the Gateway
/// do), and is routed by it; one that waits too long is refused with the reason.
/// </summary>
public sealed class FirstSnapshotWaitTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>The engine with the wait, and routing after it, as the proxies put them; <paramref name="arrived"/> is set when a request reaches the wait.</summary>
    private static Task<EngineHost> StartAsync(TaskCompletionSource arrived, TimeSpan? wait = null) => EngineHost.StartAsync(beforeRoutes: app =>
    {
        app.UseMeshMetrics(new MetricsOptions { Direction = "ingress", Source = "external" });
        app.Use((context, next) =>
        {
            arrived.TrySetResult();
            return next(context);
        });
        app.UseFirstSnapshotWait(app.Services.GetRequiredService<ProxyStatus>(), "test", wait);
        app.UseRouting();
    });

    [Fact]
    public async Task RequestBeforeTheFirstSnapshot_IsHeldThenRoutedByIt()
    {
        await using var backend = await TestBackend.StartAsync("catalog-app");
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var engine = await StartAsync(arrived);

        var early = engine.GetAsync("catalog", "/items");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        // Without the wait, this request would already have its 404 (no route before the first snapshot).
        if (early.IsCompleted)
        {
            using var answer = await early;
            Assert.Fail($"answered {(int)answer.StatusCode} before the first snapshot");
        }
        Assert.Empty(await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", backend.Url)));

        using var response = await early.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("catalog-app", response.Headers.GetValues("x-backend").Single());
        Assert.Contains("GET /items", backend.Requests);
    }

    [Fact]
    public async Task RequestBeforeTheFirstSnapshot_WaitingLongerThanTheLimit_Gets503NotConfigured()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var engine = await StartAsync(arrived, TimeSpan.FromMilliseconds(200));

        using var response = await engine.GetAsync("catalog", "/items").WaitAsync(TimeSpan.FromSeconds(10), Cancel);

        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(MeshErrors.NotConfigured, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Contains("no configuration from the control plane yet (waited 0.2 s)", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientGivingUpWhileHeld_IsMeasuredAs499NotConfigured()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var engine = await StartAsync(arrived);
        var metrics = engine.Services.GetRequiredService<RequestMetrics>();
        using var impatient = new HttpClient { BaseAddress = engine.Url };

        var call = engine.GetAsync("catalog", "/items", impatient);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        impatient.CancelPendingRequests();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        const string series = "mesh_requests_total{direction=\"ingress\",source=\"external\",destination=\"\",route=\"\",code=\"4xx\",mesh_error=\"not-configured\"} 1";
        await Eventually.UntilAsync(() => metrics.ToPrometheusText().Contains(series, StringComparison.Ordinal), TimeSpan.FromSeconds(10),
            $"the abandoned request to be measured as {series}");
    }
}
