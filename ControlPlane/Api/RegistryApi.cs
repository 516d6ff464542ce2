using AspireMesh.Contracts.Snapshots;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.Security;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Api;

/// <summary>Registration, heartbeat and listing of instances.</summary>
internal static class RegistryApi
{
    public static IEndpointRouteBuilder MapRegistryApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPut("/v1/instances/{instanceId}", (string instanceId, InstanceRegistration registration, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
        {
            var errors = Validate(instanceId, registration);
            if (errors.Count > 0)
            {
                return Problems.Invalid("The registration is invalid.", errors);
            }

            return guard.CheckInstance(context, instanceId, registration.Service) is { } refusal
                ? refusal.AsProblem()
                : Results.Ok(registry.Register(instanceId, registration));
        });

        endpoints.MapPost("/v1/instances/{instanceId}/heartbeat", (string instanceId, Heartbeat heartbeat, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
            guard.CheckInstance(context, instanceId, service: null) is { } refusal ? refusal.AsProblem()
            : registry.Renew(instanceId, heartbeat.Healthy, heartbeat.Reason) ? Results.NoContent()
            : Problems.NotFound($"Instance '{instanceId}' is not registered (its lease may have expired); register it again."));

        endpoints.MapDelete("/v1/instances/{instanceId}", (string instanceId, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
            guard.CheckInstance(context, instanceId, service: null) is { } refusal ? refusal.AsProblem()
            : registry.Remove(instanceId) ? Results.NoContent()
            : Problems.NotFound($"Instance '{instanceId}' is not registered."));

        endpoints.MapGet("/v1/services", (MeshStateStore store, InstanceRegistry registry) =>
        {
            var state = store.Current;
            var instances = registry.List().ToLookup(i => i.Service, StringComparer.Ordinal);
            var services = state.ServiceNames
                .Concat(instances.Select(g => g.Key))
                .Distinct(StringComparer.Ordinal)
                .Order(StringComparer.Ordinal)
                .Select(name => new ServiceStatus(name, [.. instances[name]
                    .OrderBy(i => i.Id, StringComparer.Ordinal)
                    .Select(i => new InstanceStatus(i.Id, i.Address, i.Healthy ? InstanceHealth.Healthy : InstanceHealth.Unhealthy, i.RegisteredAt, i.LastHeartbeat) 
                    {
                        Http2Address = i.Http2Address,
                        Identity = i.IdentityIn(state.Trust.TrustDomain),
                        Reason = i.Reason,
                        RegisteredBy = i.Eureka is not null ? InstanceRegistrars.Eureka : i.Consul is not null ? InstanceRegistrars.Consul : null,
                    })]))
                .ToList();
            return Results.Json(new ServiceList(state.Version, services), MeshJsonContext.Default.ServiceList);
        });

        return endpoints;
    }

    private static List<ConfigError> Validate(string instanceId, InstanceRegistration registration)
    {
        var errors = new List<ConfigError>();
        if (string.IsNullOrWhiteSpace(instanceId) || instanceId.Length > 253)
        {
            errors.Add(new("instanceId", "the instance id must be 1-253 characters."));
        }

        if (!MeshConfigValidator.IsDnsLabel(registration.Service))
        {
            errors.Add(new("service", $"'{registration.Service}' is not a valid service name: use lower-case letters, digits or '-', starting with a letter."));
        }

        if (!Uri.TryCreate(registration.Address, UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https"))
        {
            errors.Add(new("address", $"'{registration.Address}' is not an absolute http(s) URL."));
        }

        if (registration.Http2Address is { } http2 && (!Uri.TryCreate(http2, UriKind.Absolute, out var h2) || h2.Scheme is not ("http" or "https")))
        {
            errors.Add(new("http2Address", $"'{http2}' is not an absolute http(s) URL."));
        }

        return errors;
    }
}
