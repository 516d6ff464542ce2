using System.Globalization;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AspireMesh.ProxyEngine.Admin;

/// <summary>The admin listener's endpoints: readiness and liveness.</summary>
public static class ProxyAdminEndpoints
{
    /// <summary>
    /// Maps <c>/ready</c> (200 when serving a snapshot and nothing blocks, else 503 with the reasons), <c>/live</c>,
    /// <c>/metrics</c> (Prometheus text), <c>/stats</c> (the same as JSON, for the control plane), <c>/tap</c> (a
    /// server-sent event per request, filtered by the query, see <see cref="Telemetry.TapFilter"/>) and
    /// <c>/access-log</c> (GET the switch; PUT <c>?enabled=true|false</c> to flip it) and <c>/debug/runtime</c> (the
    /// process's allocated bytes, GC counts and memory, which the benchmarks read before and after a run); on the
    /// telemetry listener (<paramref name="reach"/>) only what reads.
    /// </summary>
    public static IEndpointRouteBuilder MapProxyAdmin(this IEndpointRouteBuilder endpoints, ProxyStatus status, Telemetry.RequestMetrics metrics, Telemetry.AccessLog accessLog,
        Telemetry.TapHub tap, ProxyAdminReach reach = ProxyAdminReach.Admin)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(accessLog);
        ArgumentNullException.ThrowIfNull(tap);
        endpoints.MapGet("/stats", () => Results.Json(metrics.Snapshot(tap.ProxyId), MeshJsonContext.Default.ProxyStats)).WithMetadata(ControlPlaneOnlyEndpoint.Instance);
        endpoints.MapGet("/tap", async (HttpContext context) =>
            {
                using var watching = OpenEndedRequest.Until(context);
                await TapStream.WriteAsync(context, tap.WatchAsync(Telemetry.TapFilter.From(context.Request.Query), watching.Token), watching.Token).ConfigureAwait(false);
            })
            .WithMetadata(ControlPlaneOnlyEndpoint.Instance);
        if (reach == ProxyAdminReach.Admin)
        {
            endpoints.MapGet("/access-log", () => Results.Text(accessLog.Enabled ? "on\n" : "off\n"));
            endpoints.MapPut("/access-log", (bool enabled) =>
            {
                accessLog.Enabled = enabled;
                return Results.Text(enabled ? "on\n" : "off\n");
            });
            endpoints.MapGet("/debug/runtime", () => Results.Text(RuntimeText(), "application/json"));
        }

        endpoints.MapGet("/metrics", () => Results.Text(metrics.ToPrometheusText(), "text/plain; version=0.0.4; charset=utf-8"));
        endpoints.MapGet("/ready", () =>
        {
            var reasons = status.Reasons;
            return Results.Json(new ProxyReadiness(reasons.Count == 0, status.AppliedVersion, reasons), MeshJsonContext.Default.ProxyReadiness,
                statusCode: reasons.Count == 0 ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
        endpoints.MapGet("/live", () => Results.Text("live\n"));
        return endpoints;
    }

    /// <summary>
    /// Counters of the runtime, cheap to read: bytes allocated since start (all threads, precise), the GC's committed
    /// memory and the heap and generation sizes after its last collection, what <see cref="Hosting.MemoryReclaimer"/>
    /// returned, work items the thread pool has completed and the <c>--io</c> mode (how often requests were handed between
    /// threads), collections per generation, working set and peak working set; and which runtime runs the proxy (its
    /// .NET version, and whether it is a Native AOT executable).
    /// </summary>
    private static string RuntimeText()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var gc = GC.GetGCMemoryInfo(GCKind.Any);
        return string.Create(CultureInfo.InvariantCulture,
            $"{{\"allocatedBytes\":{allocated},\"gcCommittedBytes\":{gc.TotalCommittedBytes},\"gcHeapAfterLastGcBytes\":{gc.HeapSizeBytes},\"gcFragmentedBytes\":{gc.FragmentedBytes},\"gcGenerationsAfterBytes\":[{GenerationSizes(gc)}],\"memoryReclaims\":{Hosting.MemoryReclaimer.Reclaims},\"memoryReclaimedBytes\":{Hosting.MemoryReclaimer.ReclaimedBytes},\"codeReleasedBytes\":{Hosting.MemoryReclaimer.CodeReleasedBytes},\"threadPoolWorkItems\":{ThreadPool.CompletedWorkItemCount},\"io\":\"{Hosting.IoScheduling.Name(Hosting.IoScheduling.Mode)}\",\"gen0\":{GC.CollectionCount(0)},\"gen1\":{GC.CollectionCount(1)},\"gen2\":{GC.CollectionCount(2)},\"heapBytes\":{GC.GetTotalMemory(false)},\"workingSet\":{process.WorkingSet64},\"peakWorkingSet\":{process.PeakWorkingSet64},\"serverGc\":{(System.Runtime.GCSettings.IsServerGC ? "true" : "false")},\"runtime\":\"{Environment.Version}\",\"nativeAot\":{(System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported ? "false" : "true")}}}\n");
    }

    /// <summary>The size of each generation (0, 1, 2, large objects, pinned objects) after the last collection, comma-separated.</summary>
    private static string GenerationSizes(GCMemoryInfo gc)
    {
        var generations = gc.GenerationInfo;
        var sizes = new long[generations.Length];
        for (var i = 0; i < generations.Length; i++)
        {
            sizes[i] = generations[i].SizeAfterBytes;
        }

        return string.Join(',', sizes);
    }

    /// <summary>
    /// Keeps the proxy not ready while <paramref name="listener"/> is not listening: until it has started (its admin
    /// listener starts first and could otherwise report ready, a snapshot applied, before the listener's sockets are
    /// bound), and again from the moment it starts stopping, so that load balancers and probes stop sending it new work
    /// while it drains.
    /// </summary>
    public static void ReadyOnceListening(this WebApplication listener, ProxyStatus status, string name)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(status);
        var condition = $"listening:{name}";
        status.Block(condition, $"the {name} listener is not listening yet");
        listener.Lifetime.ApplicationStarted.Register(() => status.Unblock(condition));
        listener.Lifetime.ApplicationStopping.Register(() => status.Block(condition, $"the {name} listener is stopping"));
    }

    /// <summary>
    /// Records the admin listener's bound address in <paramref name="status"/> once it has started, for the reports
    /// to the control plane. Start the admin listener before the others so that the first report carries it.
    /// </summary>
    public static void RecordAddressOnStart(this WebApplication admin, ProxyStatus status)
    {
        ArgumentNullException.ThrowIfNull(admin);
        ArgumentNullException.ThrowIfNull(status);
        admin.Lifetime.ApplicationStarted.Register(() => status.AdminAddress = admin.Services.GetRequiredService<IServer>().Features
            .Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()?.TrimEnd('/'));
    }
}

/// <summary>Which listener the admin endpoints are mapped on.</summary>
public enum ProxyAdminReach
{
    /// <summary>The admin listener, on loopback: everything.</summary>
    Admin,

    /// <summary>
    /// The <see cref="TelemetryListener"/>, reachable from other machines: what reads, without <c>/access-log</c> and
    /// <c>/debug/runtime</c>; <c>/stats</c> and <c>/tap</c> carry <see cref="ControlPlaneOnlyEndpoint"/>.
    /// </summary>
    Telemetry,
}

/// <summary>Endpoint metadata: on the telemetry listener, only the control plane may call the endpoint.</summary>
public sealed class ControlPlaneOnlyEndpoint
{
    internal static readonly ControlPlaneOnlyEndpoint Instance = new();

    private ControlPlaneOnlyEndpoint()
    {
    }
}
