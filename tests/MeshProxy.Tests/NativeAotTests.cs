using System.Net;
using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// The sidecar as a Native AOT executable does what the JIT-compiled one does: the paths that a trimmed, reflection-free
/// build can break (configuration snapshots, certificates, JSON, metrics, the access log) run for real.
/// </summary>
public sealed class NativeAotTests(NativeAotSidecar aot) : IClassFixture<NativeAotSidecar>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task NativeAotPair_StrictMtls_RoutesByServiceNameWithTheCallersProvedIdentity()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        catalogApp.Handler = context => context.Response.WriteAsync($"source={context.Request.Headers[MeshHeaders.Source]}");
        var mesh = new MeshConfig
        {
            Services = [new ServiceConfig { Name = "frontend", References = ["catalog"] }, new ServiceConfig { Name = "catalog", Mtls = MtlsModes.Strict }],
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(NativeAotTests).Assembly, mesh);
        await using var frontend = await SidecarProcess.StartNativeAsync(aot.Executable, controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartNativeAsync(aot.Executable, controlPlane, "catalog", "catalog-1", catalogApp.Url, "--access-log");
        using var client = frontend.OutboundClient();
        client.DefaultRequestHeaders.Add(MeshHeaders.Source, "payments");

        // Strict mode refuses plaintext, so an answer from the app proves the hop between the two executables was mTLS.
        var body = "";
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync("http://catalog/items", Cancel);
            body = await response.Content.ReadAsStringAsync(Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, Deadline, () => $"frontend's native sidecar to reach catalog (last: {body})\nfrontend:\n{frontend.Process.Output}\ncatalog:\n{catalog.Process.Output}");

        Assert.Equal("source=frontend", body);
        await Eventually.UntilAsync(() => Task.FromResult(catalog.Process.Output.Contains("source=frontend destination=catalog", StringComparison.Ordinal)), Deadline,
            "catalog's access log to name the proved caller");
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(catalog.Admin, "metrics"), Cancel);
        Assert.Contains("mesh_requests_total{direction=\"inbound\"", metrics, StringComparison.Ordinal);
        foreach (var sidecar in new[] { frontend, catalog })
        {
            using var runtime = await sidecar.RuntimeAsync();
            Assert.True(runtime.RootElement.GetProperty("nativeAot").GetBoolean(), $"{sidecar.Process.Output}\n{runtime.RootElement}");
        }
    }

    [Fact]
    public async Task NativeAot_AfterStartUp_LetsGoOfItsStartUpCode_ResidentMemoryFalls_DropsUnmappedPagesFromThePageCache_AndItKeepsServing()
    {
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        catalogApp.Handler = context => context.Response.WriteAsync("catalog");
        var mesh = new MeshConfig { Services = [new ServiceConfig { Name = "frontend", References = ["catalog"] }, new ServiceConfig { Name = "catalog" }] };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(NativeAotTests).Assembly, mesh);
        await using var catalog = await SidecarProcess.StartNativeAsync(aot.Executable, controlPlane, "catalog", "catalog-1", catalogApp.Url);

        // The reclaimer's first interval (2 s by default) after start.
        await MemoryReclaimTests.AssertLetGoOfStartUpCodeAsync(catalog, residentFalls: true);

        // The whole file cached again, as a first start leaves it; the releases that follow (one per interval) drop the
        // pages of the executable that no process maps, which for a sidecar that started and idles is most of them.
        await using (var read = File.OpenRead(aot.Executable))
        {
            await read.CopyToAsync(Stream.Null, Cancel);
        }

        var size = new FileInfo(aot.Executable).Length;
        Assert.True(PageCache.CachedBytes(aot.Executable) > size * 9 / 10, "reading the executable caches it");
        await Eventually.UntilAsync(() => PageCache.CachedBytes(aot.Executable) < size / 2, Deadline,
            $"the sidecar to drop its executable's unmapped pages from the page cache (at most half of its {size} bytes cached)");
        await MemoryReclaimTests.AssertServesAsync(controlPlane, catalog, "catalog");
    }

    [Fact]
    public void NativeAot_MethodsOfItsOrderFile_AreLaidOutTogether()
    {
        Assert.SkipUnless(aot.Framework == "net10.0", $"only .NET 10's compiler reads the order file; this sidecar was built on {aot.Framework}");
        const ulong Page = 4096;
        var orderFile = Path.Combine(BuiltProjects.RepositoryRoot(typeof(NativeAotTests).Assembly), "MeshProxy", "aot", "method-order.txt");
        var listed = File.ReadLines(orderFile).Where(line => line.Length > 0).ToHashSet(StringComparer.Ordinal);

        ulong bytes = 0;
        var pages = new HashSet<ulong>();
        var found = 0;
        foreach (var (name, address, size, section) in ElfFunctions.Read(aot.Symbols))
        {
            if (section == "__managedcode" && size > 0 && listed.Remove(name))
            {
                found++;
                bytes += size;
                for (var page = address / Page; page <= (address + size - 1) / Page; page++)
                {
                    pages.Add(page);
                }
            }
        }

        // Most names still match this build's methods (a stale list only loses the renamed ones), and those found sit
        // side by side: the pages they span are about as many as their size needs (281 for 273, twentieth round). In
        // the compiler's own order, the same methods were spread over nearly four times as many (1053).
        Assert.True(found > 1000, $"only {found} methods of {orderFile} are in this build");
        var least = (bytes + Page - 1) / Page;
        Assert.True((ulong)pages.Count <= (least * 5 / 4) + 32,
            $"the {found} methods listed in {orderFile} ({bytes} bytes, at least {least} pages) span {pages.Count} pages of the executable's code");
    }

    [Fact]
    public async Task NativeAot_BuiltInGen0Budget_CollectsGen0EveryFewMegabytes_DefaultDoesNot()
    {
        // No environment for the first: the 2 MB budget is built into the executable. DOTNET_GCgen0size=0 gives the
        // second the runtime's default, sized from the CPU's cache.
        await SidecarRuntimeTests.AssertSmallGen0BudgetAsync(typeof(NativeAotTests).Assembly,
            (controlPlane, service, instance, app) => SidecarProcess.StartNativeAsync(aot.Executable, controlPlane, service, instance, app, null, SidecarRuntimeTests.NoReclaim),
            (controlPlane, service, instance, app) => SidecarProcess.StartNativeAsync(aot.Executable, controlPlane, service, instance, app,
                new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0" }, SidecarRuntimeTests.NoReclaim));
    }

    [Fact]
    public Task NativeAot_Command_StartedWithItsPortAndProxy_SidecarExitsWithItsCodeAndDeregisters() =>
        ChildModeTests.AssertChildExitEndsTheSidecarAsync((controlPlane, command) =>
            SidecarProcess.StartNativeAsync(aot.Executable, controlPlane, "catalog", "catalog-child", null, command));

    [Fact]
    public async Task NativeAot_InvalidControlPlaneUrl_ExitsNamingTheOption()
    {
        await using var process = await TestProcess.StartAsync("sidecar", aot.Executable, ["--service", "catalog", "--app-url", "http://127.0.0.1:1", "--control-plane", "nowhere"]);

        Assert.NotEqual(0, await process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Contains("--control-plane: 'nowhere' is not an absolute http(s) URL.", process.Output, StringComparison.Ordinal);
    }
}
