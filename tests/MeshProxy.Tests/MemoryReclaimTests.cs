using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using System.Text.Json;
using AspireMesh.Contracts.Config;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>After a burst of load, a sidecar returns the memory the burst left behind (<c>--memory-reclaim-interval</c>).</summary>
public sealed partial class MemoryReclaimTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task BurstThenQuiet_BothSidecarsReturnMemory_AndKeepServing()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        var body = new string('x', 16 * 1024);
        catalogApp.Handler = context => context.Response.WriteAsync(body);
        var mesh = new MeshConfig { Services = [new ServiceConfig { Name = "frontend", References = ["catalog"] }, new ServiceConfig { Name = "catalog" }] };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MemoryReclaimTests).Assembly, mesh);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url, "--memory-reclaim-interval", "1");
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url, "--memory-reclaim-interval", "1");
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () => (await client.GetAsync("http://catalog/", Cancel)).StatusCode == HttpStatusCode.OK, Deadline,
            $"frontend to reach catalog\nfrontend:\n{frontend.Process.Output}\ncatalog:\n{catalog.Process.Output}");

        // The reclaim for what start-up left comes first, seven intervals after start, whatever the load.
        foreach (var (sidecar, name) in new[] { (frontend, "frontend"), (catalog, "catalog") })
        {
            await Eventually.UntilAsync(async () => await ReclaimsAsync(sidecar) >= 1, Deadline, () => $"{name}'s sidecar to reclaim what start-up left\n{sidecar.Process.Output}");
        }

        // The burst: 32 callers at once. Halfway through it the reclaims so far, and what they returned, are read from
        // the sidecars themselves (not from their log, whose lines can trail): while the load is at its height none can
        // happen (the allocation rate has not fallen), and the start-up one is done, so any later one is the burst's.
        const int Workers = 32, PerWorker = 150;
        var done = 0;
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var burst = Task.WhenAll(Enumerable.Range(0, Workers).Select(async _ =>
        {
            for (var i = 0; i < PerWorker; i++)
            {
                using var response = await client.GetAsync("http://catalog/", Cancel);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await response.Content.ReadAsStringAsync(Cancel);
                if (Interlocked.Increment(ref done) == Workers * PerWorker / 2)
                {
                    halfway.TrySetResult();
                }
            }
        }));
        await Task.WhenAny(halfway.Task, burst);
        var before = new[] { await ReclaimsAsync(frontend), await ReclaimsAsync(catalog) };
        var returnedBefore = new[] { await ReturnedBytesAsync(frontend), await ReturnedBytesAsync(catalog) };
        await burst;

        foreach (var (sidecar, index, name) in new[] { (frontend, 0, "frontend"), (catalog, 1, "catalog") })
        {
            // Counted, then added up: both are waited for, so that a reclaim read between the two is not taken for one
            // that returned nothing (a reclaim that does return nothing fails this at the deadline).
            await Eventually.UntilAsync(async () => await ReclaimsAsync(sidecar) > before[index] && await ReturnedBytesAsync(sidecar) > returnedBefore[index], Deadline,
                () => $"{name}'s sidecar to return memory after the burst\n{sidecar.Process.Output}");
        }

        using var after = await client.GetAsync("http://catalog/", Cancel);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(body.Length, (await after.Content.ReadAsStringAsync(Cancel)).Length);
    }

    [Fact]
    public async Task AfterStartUp_SidecarLetsGoOfItsMappedCode_AndKeepsServing()
    {
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        catalogApp.Handler = context => context.Response.WriteAsync("catalog");
        var mesh = new MeshConfig { Services = [new ServiceConfig { Name = "frontend", References = ["catalog"] }, new ServiceConfig { Name = "catalog" }] };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MemoryReclaimTests).Assembly, mesh);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url, "--memory-reclaim-interval", "1");

        // A JIT-compiled sidecar one second after start is still compiling: new code and the framework's pages come in
        // as fast as the release takes pages out, so only the Native AOT test (NativeAotTests) checks that its
        // resident set fell.
        await AssertLetGoOfStartUpCodeAsync(catalog, residentFalls: false);
        await AssertServesAsync(controlPlane, catalog, "catalog");
    }

    /// <summary>Calls the sidecar's inbound side over mTLS, as a peer sidecar would, until the app's answer comes back.</summary>
    internal static async Task AssertServesAsync(ControlPlaneProcess controlPlane, SidecarProcess sidecar, string answer)
    {
        using var peer = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var client = peer.Client();
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync(new Uri(MeshIdentity.Secure(sidecar.Inbound), "items"), Cancel);
            return response.StatusCode == HttpStatusCode.OK && await response.Content.ReadAsStringAsync(Cancel) == answer;
        }, Deadline, () => $"the sidecar to serve after letting go of its code pages\n{sidecar.Process.Output}");
    }

    /// <summary>
    /// Waits for the sidecar's start-up release of mapped code and checks what it reported: code pages let go of
    /// (<c>codeReleasedBytes</c>) and, with <paramref name="residentFalls"/>, its resident set lower after than before.
    /// </summary>
    internal static async Task AssertLetGoOfStartUpCodeAsync(SidecarProcess sidecar, bool residentFalls)
    {
        Match? line = null;
        await Eventually.UntilAsync(() => Task.FromResult((line = StartUpRelease().Match(sidecar.Process.Output)).Success), Deadline,
            $"the sidecar to log letting go of its start-up code\n{sidecar.Process.Output}");
        var released = double.Parse(line!.Groups["released"].Value, CultureInfo.InvariantCulture);
        var before = double.Parse(line.Groups["before"].Value, CultureInfo.InvariantCulture);
        var after = double.Parse(line.Groups["after"].Value, CultureInfo.InvariantCulture);
        Assert.True(released > 1 && (after < before || !residentFalls), line.Value);
        using var runtime = await sidecar.RuntimeAsync();
        Assert.True(runtime.RootElement.GetProperty("codeReleasedBytes").GetInt64() > 1024 * 1024, runtime.RootElement.ToString());
    }

    [GeneratedRegex(@"let go of (?<released>[0-9.]+) MB of mapped code pages after start-up \(resident (?<before>[0-9.]+) -> (?<after>[0-9.]+) MB\)")]
    private static partial Regex StartUpRelease();

    [Fact]
    public async Task NegativeInterval_ExitsNamingTheOption()
    {
        await using var process = await TestProcess.StartAsync("sidecar", "dotnet",
            [SidecarProcess.Assembly, "--service", "catalog", "--app-url", "http://127.0.0.1:1", "--memory-reclaim-interval", "-1"]);

        Assert.NotEqual(0, await process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains("--memory-reclaim-interval: -1 is negative", process.Output, StringComparison.Ordinal);
    }

    /// <summary>What the sidecar's reclaims returned to the system so far (its <c>/debug/runtime</c>).</summary>
    private static async Task<long> ReturnedBytesAsync(SidecarProcess sidecar)
    {
        using var runtime = await sidecar.RuntimeAsync();
        return runtime.RootElement.GetProperty("memoryReclaimedBytes").GetInt64();
    }

    private static async Task<long> ReclaimsAsync(SidecarProcess sidecar)
    {
        using var runtime = await sidecar.RuntimeAsync();
        return runtime.RootElement.GetProperty("memoryReclaims").GetInt64();
    }
}
