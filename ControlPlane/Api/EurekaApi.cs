using System.Globalization;
using System.Text.Json;
using AspireMesh.ControlPlane.Eureka;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.Security;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Api;

/// <summary>
/// Eureka's REST API, so that Steeltoe, Spring Cloud and eureka-js-client apps register and discover through the
/// control plane without changes: served under <c>/eureka</c> (Spring's path) and <c>/eureka/v2</c> (Netflix's).
/// An instance registered here is an instance of the mesh service named by its app (lower-cased), reached by the
/// mesh's proxies at its address; every mesh instance, behind a sidecar or not, is listed to Eureka clients.
/// Bodies are JSON, whatever <c>Accept</c> says (the clients above all ask for it).
/// </summary>
internal static class EurekaApi
{
    private static readonly HashSet<string> OverrideStatuses = new(StringComparer.Ordinal) { "UP", "DOWN", "STARTING", "OUT_OF_SERVICE", "UNKNOWN" };

    public static IEndpointRouteBuilder MapEurekaApi(this IEndpointRouteBuilder endpoints)
    {
        Map(endpoints.MapGroup("/eureka"));
        Map(endpoints.MapGroup("/eureka/v2"));
        return endpoints;
    }

    private static void Map(RouteGroupBuilder eureka)
    {
        eureka.MapPost("/apps/{app}", async (string app, HttpContext context, InstanceRegistry registry, RegistrationGuard guard, TimeProvider time) =>
        {
            if (context.Request.ContentType?.Contains("xml", StringComparison.OrdinalIgnoreCase) == true)
            {
                return Text(StatusCodes.Status415UnsupportedMediaType, "This Eureka API reads JSON only: send the instance as Content-Type: application/json.");
            }

            JsonElement body;
            try
            {
                using var document = await RawJson.ReadAsync(context).ConfigureAwait(false);
                body = document.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                return Text(StatusCodes.Status400BadRequest, $"The body is not JSON: {ex.Message}");
            }

            EurekaRegistration registration;
            try
            {
                registration = EurekaRegistration.Parse(body, app, time.GetUtcNow().ToUnixTimeMilliseconds());
            }
            catch (EurekaException ex)
            {
                return Text(StatusCodes.Status400BadRequest, ex.Message);
            }

            if (guard.CheckInstance(context, registration.InstanceId, registration.Service) is { } refusal)
            {
                return refusal.AsText();
            }

            return registry.RegisterEureka(registration)
                ? Results.NoContent()
                : Text(StatusCodes.Status409Conflict, $"Instance id {registration.InstanceId} belongs to an instance registered by a mesh sidecar or a Consul client.");
        });

        eureka.MapPut("/apps/{app}/{id}", (string app, string id, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
        {
            if (guard.CheckInstance(context, id, app.ToLowerInvariant()) is { } refusal)
            {
                return refusal.AsText();
            }

            long? dirty = long.TryParse(context.Request.Query["lastDirtyTimestamp"], NumberStyles.None, CultureInfo.InvariantCulture, out var d) ? d : null;
            return registry.RenewEureka(app, id, dirty) ? Results.Ok() : NotRegistered(registry, app, id);
        });

        eureka.MapDelete("/apps/{app}/{id}", (string app, string id, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
            guard.CheckInstance(context, id, app.ToLowerInvariant()) is { } refusal ? refusal.AsText()
            : registry.RemoveEureka(app, id) ? Results.Ok() : NotRegistered(registry, app, id));

        eureka.MapGet("/apps", (InstanceRegistry registry, MeshStateStore state) =>
            Json(EurekaDocuments.Applications(registry.List(), state.Current.Trust.TrustDomain)));

        eureka.MapGet("/apps/delta", (InstanceRegistry registry, MeshStateStore state) =>
        {
            var (version, changes) = registry.Changes.Recent();
            return Json(EurekaDocuments.Delta(version, changes, registry.List(), state.Current.Trust.TrustDomain));
        });

        eureka.MapGet("/apps/{app}", (string app, InstanceRegistry registry, MeshStateStore state) =>
        {
            var instances = registry.List().Where(i => string.Equals(EurekaDocuments.AppOf(i), app, StringComparison.OrdinalIgnoreCase)).ToList();
            return instances.Count > 0
                ? Json(EurekaDocuments.Application(instances, state.Current.Trust.TrustDomain))
                : Text(StatusCodes.Status404NotFound, $"No instance of {app.ToUpperInvariant()} is registered.");
        });

        eureka.MapGet("/apps/{app}/{id}", (string app, string id, InstanceRegistry registry, MeshStateStore state) =>
            registry.List().FirstOrDefault(i => i.Id == id && string.Equals(EurekaDocuments.AppOf(i), app, StringComparison.OrdinalIgnoreCase)) is { } instance
                ? Json(EurekaDocuments.Instance(instance, state.Current.Trust.TrustDomain))
                : NotRegistered(registry, app, id));

        eureka.MapGet("/instances/{id}", (string id, InstanceRegistry registry, MeshStateStore state) =>
            registry.List().FirstOrDefault(i => i.Id == id) is { } instance
                ? Json(EurekaDocuments.Instance(instance, state.Current.Trust.TrustDomain))
                : Text(StatusCodes.Status404NotFound, $"No instance {id} is registered."));

        eureka.MapGet("/vips/{vip}", (string vip, InstanceRegistry registry, MeshStateStore state) => ByVip(vip, secure: false, registry, state));
        eureka.MapGet("/svips/{vip}", (string vip, InstanceRegistry registry, MeshStateStore state) => ByVip(vip, secure: true, registry, state));

        eureka.MapPut("/apps/{app}/{id}/status", (string app, string id, string? value, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
        {
            if (guard.CheckInstance(context, id, app.ToLowerInvariant()) is { } refusal)
            {
                return refusal.AsText();
            }

            var status = value?.ToUpperInvariant();
            if (status is null || !OverrideStatuses.Contains(status))
            {
                return Text(StatusCodes.Status400BadRequest, $"value must be one of {string.Join(", ", OverrideStatuses)}.");
            }

            return registry.UpdateEureka(app, id, r => r with { OverriddenStatus = status }) ? Results.Ok() : NotRegistered(registry, app, id);
        });

        // The override goes; the status falls back to value, when given, else to what the client reports.
        eureka.MapDelete("/apps/{app}/{id}/status", (string app, string id, string? value, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
        {
            if (guard.CheckInstance(context, id, app.ToLowerInvariant()) is { } refusal)
            {
                return refusal.AsText();
            }

            var fallback = value?.ToUpperInvariant();
            if (fallback is not null && !OverrideStatuses.Contains(fallback))
            {
                return Text(StatusCodes.Status400BadRequest, $"value must be one of {string.Join(", ", OverrideStatuses)}.");
            }

            return registry.UpdateEureka(app, id, r => r with { OverriddenStatus = null, Status = fallback ?? r.Status }) ? Results.Ok() : NotRegistered(registry, app, id);
        });

        eureka.MapPut("/apps/{app}/{id}/metadata", (string app, string id, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
            guard.CheckInstance(context, id, app.ToLowerInvariant()) is { } refusal ? refusal.AsText() : registry.UpdateEureka(app, id, r =>
            {
                var metadata = new Dictionary<string, string>(r.Metadata, StringComparer.Ordinal);
                // ?token= is the registration token (RegistrationGuard), not metadata: it must not be published.
                foreach (var (key, values) in context.Request.Query.Where(q => q.Key != "token"))
                {
                    metadata[key] = values.ToString();
                }

                return r with { Metadata = metadata };
            }) ? Results.Ok() : NotRegistered(registry, app, id));
    }

    private static IResult ByVip(string vip, bool secure, InstanceRegistry registry, MeshStateStore state)
    {
        bool Matches(RegisteredInstance instance)
        {
            var (plain, secureVip) = EurekaDocuments.VipsOf(instance);
            return (secure ? secureVip : plain)?.Split(',').Any(v => string.Equals(v.Trim(), vip, StringComparison.OrdinalIgnoreCase)) == true;
        }

        var instances = registry.List();
        return instances.Any(Matches)
            ? Json(EurekaDocuments.Applications(instances, state.Current.Trust.TrustDomain, Matches))
            : Text(StatusCodes.Status404NotFound, $"No instance has the {(secure ? "secure " : "")}VIP address {vip}.");
    }

    // An instance a sidecar or a Consul client registered is listed here but not managed here: say so.
    private static IResult NotRegistered(InstanceRegistry registry, string app, string id) =>
        Text(StatusCodes.Status404NotFound, registry.List().FirstOrDefault(i => i.Id == id && i.Eureka is null) is { } other
            ? $"Instance {id} was registered by {(other.Consul is null ? "a mesh sidecar" : "a Consul client")}, not through the Eureka API: it keeps it."
            : $"Instance {id} of {app.ToUpperInvariant()} is not registered (its lease may have expired): register it again.");

    private static IResult Json(byte[] body) => Results.Bytes(body, "application/json");

    private static IResult Text(int status, string reason) => Results.Text(reason, "text/plain; charset=utf-8", statusCode: status);
}
