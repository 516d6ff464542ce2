using AspireMesh.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AspireMesh.ProxyEngine.Admin;

/// <summary>The admin listener's endpoints: readiness and liveness.</summary>
public static class ProxyAdminEndpoints
{
    /// <summary>
    /// Maps <c>/ready</c> (200 when serving a snapshot and nothing blocks, else 503 with the reasons), <c>/live</c> and
    /// <c>/metrics</c> (Prometheus text).
    /// </summary>
    public static IEndpointRouteBuilder MapProxyAdmin(this IEndpointRouteBuilder endpoints, ProxyStatus status, Telemetry.RequestMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
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
}
