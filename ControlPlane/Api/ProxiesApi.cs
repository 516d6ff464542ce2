using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.ControlPlane.Proxies;
using AspireMesh.ControlPlane.Security;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Api;

/// <summary>Proxies report what they applied or refused; GET /v1/proxies shows every proxy's state.</summary>
internal static class ProxiesApi
{
    public static IEndpointRouteBuilder MapProxiesApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/proxies", (ProxyRegistry proxies, MeshStateStore state) =>
        {
            var current = state.Current;
            return Results.Json(new ProxyList(current.Version, current.ConfigVersion, proxies.List(current.Version)) { ControlPlaneVersion = MeshBuild.Version }, MeshJsonContext.Default.ProxyList);
        });

        endpoints.MapPost("/v1/proxies/{proxyId}/report", (string proxyId, ProxyReport report, HttpContext context, ProxyRegistry proxies, RegistrationGuard guard, ILogger<ProxyRegistry> logger) =>
        {
            if (guard.CheckReport(context, proxyId, report.Kind, report.Name) is { } refusal)
            {
                return refusal.AsProblem();
            }

            proxies.Report(proxyId, report);
            if (report is { RefusedVersion: { } refused, Refusal: { } reason })
            {
                ControlPlaneLog.SnapshotRefused(logger, proxyId, report.Kind, report.Name, refused, reason);
            }

            return Results.NoContent();
        });

        return endpoints;
    }
}
