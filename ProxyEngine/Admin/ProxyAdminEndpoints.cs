using AspireMesh.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AspireMesh.ProxyEngine.Admin;

/// <summary>The admin listener's endpoints: readiness and liveness.</summary>
public static class ProxyAdminEndpoints
{
    /// <summary>
    /// Maps <c>/ready</c> (200 when serving a snapshot and nothing blocks, else 503 with the reasons), <c>/live</c>,
    /// <c>/metrics</c> (Prometheus text) and <c>/access-log</c> (GET the switch; PUT <c>?enabled=true|false</c> to flip it).
    /// </summary>
    public static IEndpointRouteBuilder MapProxyAdmin(this IEndpointRouteBuilder endpoints, ProxyStatus status, Telemetry.RequestMetrics metrics, Telemetry.AccessLog accessLog)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(accessLog);
        endpoints.MapGet("/access-log", () => Results.Text(accessLog.Enabled ? "on\n" : "off\n"));
        endpoints.MapPut("/access-log", (bool enabled) =>
        {
            accessLog.Enabled = enabled;
            return Results.Text(enabled ? "on\n" : "off\n");
        });
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
