using System.Net;
using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.Hosting.Model;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>The runtime settings every launcher gives a sidecar (<see cref="SidecarRuntime"/>) take effect in it.</summary>
public sealed class SidecarRuntimeTests
{
    /// <summary>
    /// The most a sidecar with a 4 MB gen0 budget allocates per gen0 collection on average. The budget is the least the
    /// GC lets gen0 grow to and it adapts upwards while more survives (5-7 MB measured); without the setting it follows
    /// the CPU's cache (16 MB per collection on this machine's 32 MB L3).
    /// </summary>
    private const long TunedGen0Ceiling = 10L << 20;

    private const int Collections = 10;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SidecarRuntimeEnvironment_JitSidecarsCollectGen0EveryFewMegabytes()
    {
        await using var pair = await SidecarPair.StartAsync(typeof(SidecarRuntimeTests), (controlPlane, service, instance, app) =>
            SidecarProcess.StartAsync(controlPlane.Url, service, instance, app, null, SidecarRuntime.Environment));

        await AssertCollectEveryFewMegabytesAsync(pair);
    }

    /// <summary>
    /// Sends 64 KB responses from catalog to frontend through both sidecars until each has run ten more gen0
    /// collections, then checks the bytes each allocated per collection (<c>/debug/runtime</c>) against a 4 MB budget.
    /// </summary>
    internal static async Task AssertCollectEveryFewMegabytesAsync(SidecarPair pair)
    {
        using var client = pair.Frontend.OutboundClient();
        await Eventually.UntilAsync(async () => (await client.GetAsync("http://catalog/", Cancel)).StatusCode == HttpStatusCode.OK, Deadline,
            $"frontend to reach catalog\nfrontend:\n{pair.Frontend.Process.Output}\ncatalog:\n{pair.Catalog.Process.Output}");
        using var admin = new HttpClient();
        var sidecars = new[] { pair.Frontend, pair.Catalog };
        var start = new (long Gen0, long Allocated)[sidecars.Length];
        for (var i = 0; i < sidecars.Length; i++)
        {
            start[i] = await RuntimeAsync(admin, sidecars[i]);
        }

        await Eventually.UntilAsync(async () =>
        {
            for (var i = 0; i < 64; i++)
            {
                using var response = await client.GetAsync("http://catalog/", Cancel);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await response.Content.ReadAsByteArrayAsync(Cancel);
            }

            for (var i = 0; i < sidecars.Length; i++)
            {
                if ((await RuntimeAsync(admin, sidecars[i])).Gen0 < start[i].Gen0 + Collections)
                {
                    return false;
                }
            }

            return true;
        }, Deadline, $"both sidecars to run {Collections} gen0 collections under load");

        for (var i = 0; i < sidecars.Length; i++)
        {
            var end = await RuntimeAsync(admin, sidecars[i]);
            var perCollection = (end.Allocated - start[i].Allocated) / (end.Gen0 - start[i].Gen0);
            Assert.True(perCollection <= TunedGen0Ceiling, $"{perCollection} bytes allocated per gen0 collection\n{sidecars[i].Process.Output}");
        }
    }

    private static async Task<(long Gen0, long Allocated)> RuntimeAsync(HttpClient admin, SidecarProcess sidecar)
    {
        using var runtime = JsonDocument.Parse(await admin.GetStringAsync(new Uri(sidecar.Admin, "debug/runtime"), Cancel));
        return (runtime.RootElement.GetProperty("gen0").GetInt64(), runtime.RootElement.GetProperty("allocatedBytes").GetInt64());
    }
}
