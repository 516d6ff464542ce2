using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace AspireMesh.ControlPlane.Api;

/// <summary>
/// Reads what an operator wrote (a rollback, a bootstrap credential request) refusing members it does not know, so a
/// typo is an error and not a silently applied default. The proxies' messages are bound tolerantly instead (see
/// <see cref="Contracts.MeshJsonContext.Tolerant"/>): a proxy one version ahead or behind must not be refused.
/// </summary>
internal static class StrictBody
{
    public static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> typeInfo)
    {
        if (!context.Request.HasJsonContentType())
        {
            throw new BadHttpRequestException("Expected a JSON body (Content-Type: application/json).", StatusCodes.Status415UnsupportedMediaType);
        }

        try
        {
            return await context.Request.ReadFromJsonAsync(typeInfo, context.RequestAborted).ConfigureAwait(false)
                ?? throw new BadHttpRequestException($"The body is null; expected a {typeof(T).Name} object.");
        }
        catch (JsonException ex)
        {
            throw new BadHttpRequestException($"Failed to read the body as a {typeof(T).Name}.", ex);
        }
    }
}
