using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.Resources;
using AspireMesh.ControlPlane.Security;
using Microsoft.AspNetCore.Mvc;

namespace AspireMesh.ControlPlane.Api;

/// <summary>
/// The AppHost's resources (the processes it runs) for the dashboard: the AppHost publishes their states
/// (PUT /v1/resources) and console lines (POST /v1/resources/logs) with the admin token; anyone reads them.
/// </summary>
internal static class ResourcesApi
{
    /// <summary>Largest request body the publishing endpoints accept.</summary>
    public const long MaxBodyBytes = 1024 * 1024;

    public static IEndpointRouteBuilder MapResourcesApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/resources", (ResourceStore store) => Results.Json(store.Current, MeshJsonContext.Default.ResourceList));

        endpoints.MapPut("/v1/resources", (ResourceSnapshot snapshot, ResourceStore store) =>
            store.Publish(snapshot) is { Count: > 0 } errors
                ? Problems.Invalid($"The resource snapshot has {errors.Count} error(s); nothing was changed.", errors, StatusCodes.Status422UnprocessableEntity)
                : Results.NoContent())
            .RequireAdminToken().WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes));

        endpoints.MapPost("/v1/resources/logs", (ResourceLogBatch batch, ResourceStore store) =>
            store.Append(batch) is { Count: > 0 } errors
                ? Problems.Invalid($"The log batch has {errors.Count} error(s); none of its lines was kept.", errors, StatusCodes.Status422UnprocessableEntity)
                : Results.NoContent())
            .RequireAdminToken().WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes));

        endpoints.MapGet("/v1/resources/{name}/logs", (string name, int? tail, ResourceStore store) =>
        {
            if (tail is < 1 or > ResourceStore.LinesPerResource)
            {
                return Problems.Invalid("Invalid query", [new ConfigError("tail", $"'{tail}' is out of range: ask for 1-{ResourceStore.LinesPerResource} lines.")]);
            }

            return store.Logs(name, tail ?? ResourceStore.LinesPerResource) is { } logs
                ? Results.Json(logs, MeshJsonContext.Default.ResourceLogs)
                : Problems.NotFound($"'{name}' is not a resource the AppHost published; GET /v1/resources lists them.");
        });

        return endpoints;
    }
}
