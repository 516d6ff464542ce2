using System.Net;
using System.Reflection;
using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.Hosting.Model;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>The runtime settings every launcher gives a sidecar (<see cref="SidecarRuntime"/>) take effect in it.</summary>
public sealed class SidecarRuntimeTests
{
    /// <summary>
    /// No memory reclaim: its forced collections would count as gen0 collections and lower the average measured.
    /// </summary>
    internal static readonly string[] NoReclaim = ["--memory-reclaim-interval", "0"];

    /// <summary>
    /// The most a sidecar with the 2 MB gen0 budget allocates per gen0 collection on average under this test's load. The
    /// budget is the least the GC lets gen0 grow to, and it adapts upwards while more survives: 2.2 MB measured for the
    /// JIT-compiled sidecar, 4.2-4.4 MB for the Native AOT one, whose GC raises it under these 64 KB responses (4-5.3 MB
    /// with the earlier 4 MB budget). The runtime's default follows the CPU's cache: 14-25 MB per collection on this
    /// machine's 32 MB L3.
    /// </summary>
    private const long TunedCeiling = 10L << 20;

    /// <summary>How much each sidecar allocates while it is measured: several collections' worth either way.</summary>
    private const long Volume = 48L << 20;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public Task SidecarRuntimeEnvironment_JitSidecarsCollectGen0EveryFewMegabytes_DefaultDoesNot() =>
        AssertSmallGen0BudgetAsync(typeof(SidecarRuntimeTests).Assembly,
            (controlPlane, service, instance, app) => SidecarProcess.StartAsync(controlPlane.Url, service, instance, app, null, SidecarRuntime.Environment, NoReclaim),
            (controlPlane, service, instance, app) => SidecarProcess.StartAsync(controlPlane.Url, service, instance, app, null, NoReclaim));

    /// <summary>
    /// Two caller-callee pairs of sidecars in front of an app answering 64 KB: frontend -> catalog started as
    /// <paramref name="tuned"/>, shop -> stock as <paramref name="untuned"/>. Each pair carries requests until both its
    /// sidecars have allocated <see cref="Volume"/>; then the bytes each allocated per gen0 collection
    /// (<c>/debug/runtime</c>) are at most <see cref="TunedCeiling"/> for the tuned pair and above it for the other.
    /// Skipped where the runtime's default is itself under the ceiling (a CPU with a small cache).
    /// </summary>
    internal static async Task AssertSmallGen0BudgetAsync(Assembly test, Func<ControlPlaneProcess, string, string, Uri, Task<SidecarProcess>> tuned,
        Func<ControlPlaneProcess, string, string, Uri, Task<SidecarProcess>> untuned)
    {
        await using var app = await TestBackend.StartAsync("app");
        var body = new string('x', 64 * 1024);
        app.Handler = context => context.Response.WriteAsync(body);
        var mesh = new MeshConfig
        {
            Services =
            [
                new ServiceConfig { Name = "frontend", References = ["catalog"] }, new ServiceConfig { Name = "catalog" },
                new ServiceConfig { Name = "shop", References = ["stock"] }, new ServiceConfig { Name = "stock" },
            ],
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(test, mesh);
        await using var frontend = await tuned(controlPlane, "frontend", "frontend-1", app.Url);
        await using var catalog = await tuned(controlPlane, "catalog", "catalog-1", app.Url);
        await using var shop = await untuned(controlPlane, "shop", "shop-1", app.Url);
        await using var stock = await untuned(controlPlane, "stock", "stock-1", app.Url);

        var small = await BytesPerGen0CollectionAsync(frontend, catalog, "http://catalog/");
        var standard = await BytesPerGen0CollectionAsync(shop, stock, "http://stock/");

        var measured = $"bytes allocated per gen0 collection: {small[0]} / {small[1]} with the setting (caller / callee), {standard[0]} / {standard[1]} without";
        TestContext.Current.TestOutputHelper?.WriteLine(measured);
        Assert.SkipWhen(standard.Min() <= TunedCeiling, $"the runtime's default gen0 budget is already small on this machine; {measured}");
        Assert.True(small.Max() <= TunedCeiling, $"{measured}\n{frontend.Process.Output}\n{catalog.Process.Output}");
    }

    /// <summary>Requests from <paramref name="caller"/>'s app to <paramref name="url"/> until both sidecars have allocated <see cref="Volume"/>.</summary>
    private static async Task<long[]> BytesPerGen0CollectionAsync(SidecarProcess caller, SidecarProcess callee, string url)
    {
        using var client = caller.OutboundClient();
        await Eventually.UntilAsync(async () => await RequestAsync(client, url) == HttpStatusCode.OK, Deadline,
            $"the caller to reach {url}\n{caller.Process.Output}\n{callee.Process.Output}");
        SidecarProcess[] sidecars = [caller, callee];
        var start = new (long Gen0, long Allocated)[sidecars.Length];
        var end = new (long Gen0, long Allocated)[sidecars.Length];
        for (var i = 0; i < sidecars.Length; i++)
        {
            start[i] = await RuntimeAsync(sidecars[i]);
        }

        await Eventually.UntilAsync(async () =>
        {
            for (var i = 0; i < 32; i++)
            {
                Assert.Equal(HttpStatusCode.OK, await RequestAsync(client, url));
            }

            for (var i = 0; i < sidecars.Length; i++)
            {
                end[i] = await RuntimeAsync(sidecars[i]);
            }

            return Enumerable.Range(0, sidecars.Length).All(i => end[i].Allocated - start[i].Allocated >= Volume);
        }, Deadline, $"both sidecars to allocate {Volume} bytes under load");

        return Enumerable.Range(0, sidecars.Length)
            .Select(i => (end[i].Allocated - start[i].Allocated) / Math.Max(1, end[i].Gen0 - start[i].Gen0))
            .ToArray();
    }

    private static async Task<HttpStatusCode> RequestAsync(HttpClient client, string url)
    {
        using var response = await client.GetAsync(url, Cancel);
        await response.Content.ReadAsByteArrayAsync(Cancel);
        return response.StatusCode;
    }

    private static async Task<(long Gen0, long Allocated)> RuntimeAsync(SidecarProcess sidecar)
    {
        using var runtime = await sidecar.RuntimeAsync();
        return (runtime.RootElement.GetProperty("gen0").GetInt64(), runtime.RootElement.GetProperty("allocatedBytes").GetInt64());
    }
}
