using System.Globalization;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.ControlPlane.Consul;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.Security;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Api;

/// <summary>
/// The part of Consul's HTTP API that service-discovery clients use (Steeltoe.Discovery.Consul, node-consul, Spring
/// Cloud Consul): the agent's service registration with a TTL, HTTP or TCP check, maintenance mode, and the health and catalog
/// reads, with blocking queries. A service registered here is an instance of the mesh service of that name, healthy
/// while its check passes; every mesh instance, behind a sidecar or not, is listed to Consul clients. The control plane
/// plays one agent on one node (<c>aspiremesh</c>, datacenter <c>dc1</c>).
/// </summary>
internal static class ConsulApi
{
    private const string Node = "aspiremesh";
    private const string Datacenter = "dc1";
    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan DefaultWait = TimeSpan.FromMinutes(5);

    public static IEndpointRouteBuilder MapConsulApi(this IEndpointRouteBuilder endpoints)
    {
        var consul = endpoints.MapGroup("/v1");

        consul.MapPut("/agent/service/register", async (HttpContext context, InstanceRegistry registry, RegistrationGuard guard, TimeProvider time,
            Microsoft.Extensions.Options.IOptions<ControlPlaneOptions> options) =>
        {
            ConsulRegistration registration;
            try
            {
                using var document = await RawJson.ReadAsync(context).ConfigureAwait(false);
                // From this machine as the guards count it: loopback, while loopback is trusted.
                var fromThisMachine = options.Value.OpenOnLoopback && RemoteAdminGuard.IsLoopback(context.Connection.RemoteIpAddress);
                registration = ConsulRegistration.Parse(document.RootElement, time.GetUtcNow(), fromThisMachine);
            }
            catch (JsonException ex)
            {
                return Text(StatusCodes.Status400BadRequest, $"Request decode failed: {ex.Message}");
            }
            catch (ConsulException ex)
            {
                return Text(StatusCodes.Status400BadRequest, ex.Message);
            }

            if (guard.CheckInstance(context, registration.Id, registration.Name) is { } refusal)
            {
                return refusal.AsText();
            }

            return registry.RegisterConsul(registration)
                ? Results.Ok()
                : Text(StatusCodes.Status409Conflict, $"Service ID {registration.Id} belongs to an instance registered by a mesh sidecar or a Eureka client.");
        });

        consul.MapPut("/agent/service/deregister/{id}", (string id, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
            guard.CheckInstance(context, id, service: null) is { } refusal ? refusal.AsText()
            : registry.RemoveConsul(id) ? Results.Ok() : Text(StatusCodes.Status404NotFound, $"Unknown service ID {id}"));

        consul.MapPut("/agent/service/maintenance/{id}", (string id, string? enable, string? reason, HttpContext context, InstanceRegistry registry, RegistrationGuard guard) =>
        {
            if (guard.CheckInstance(context, id, service: null) is { } refusal)
            {
                return refusal.AsText();
            }

            if (!bool.TryParse(enable, out var on))
            {
                return Text(StatusCodes.Status400BadRequest, "Missing or bad value for enable: true or false.");
            }

            return registry.UpdateConsul(id, c => c with { Maintenance = on ? reason ?? "" : null })
                ? Results.Ok()
                : Text(StatusCodes.Status404NotFound, $"Unknown service ID {id}");
        });

        consul.MapPut("/agent/check/pass/{checkId}", (string checkId, string? note, HttpContext context, InstanceRegistry registry, RegistrationGuard guard, TimeProvider time) =>
            UpdateCheck(context, registry, guard, checkId, ConsulRegistration.Passing, note, time));
        consul.MapPut("/agent/check/warn/{checkId}", (string checkId, string? note, HttpContext context, InstanceRegistry registry, RegistrationGuard guard, TimeProvider time) =>
            UpdateCheck(context, registry, guard, checkId, ConsulRegistration.Warning, note, time));
        consul.MapPut("/agent/check/fail/{checkId}", (string checkId, string? note, HttpContext context, InstanceRegistry registry, RegistrationGuard guard, TimeProvider time) =>
            UpdateCheck(context, registry, guard, checkId, ConsulRegistration.Critical, note, time));
        consul.MapPut("/agent/check/update/{checkId}", async (string checkId, HttpContext context, InstanceRegistry registry, RegistrationGuard guard, TimeProvider time) =>
        {
            string? status;
            string? output;
            try
            {
                using var document = await RawJson.ReadAsync(context).ConfigureAwait(false);
                status = Text(document.RootElement, "Status");
                output = Text(document.RootElement, "Output");
            }
            catch (JsonException ex)
            {
                return Text(StatusCodes.Status400BadRequest, $"Request decode failed: {ex.Message}");
            }

            return status is ConsulRegistration.Passing or ConsulRegistration.Warning or ConsulRegistration.Critical
                ? UpdateCheck(context, registry, guard, checkId, status, output, time)
                : Text(StatusCodes.Status400BadRequest, $"Invalid check status: '{status}': passing, warning or critical.");
        });

        consul.MapGet("/agent/services", (InstanceRegistry registry) => Json(null, writer =>
        {
            writer.WriteStartObject();
            foreach (var instance in registry.List().Where(i => i.Consul is not null).OrderBy(i => i.Id, StringComparer.Ordinal))
            {
                writer.WritePropertyName(instance.Id);
                WriteAgentService(writer, instance.Consul!);
            }

            writer.WriteEndObject();
        }));

        consul.MapGet("/health/service/{name}", (string name, HttpContext context, InstanceRegistry registry, MeshStateStore state) =>
        {
            // ?passing, ?passing=1 and ?passing=true all filter; ?passing=false and ?passing=0 do not.
            var passingOnly = context.Request.Query.TryGetValue("passing", out var passing) && passing.ToString() is not ("false" or "0");
            var tag = context.Request.Query["tag"].ToString();
            return ReadAsync(context, state, (writer, trustDomain) =>
            {
                var entries = Of(registry, name)
                    .Select(i => (Instance: i, View: View(i, trustDomain)))
                    .Where(e => !passingOnly || e.Instance.Healthy)
                    .Where(e => tag.Length == 0 || e.View.Tags.Contains(tag, StringComparer.Ordinal));
                writer.WriteStartArray();
                foreach (var (instance, view) in entries)
                {
                    writer.WriteStartObject();
                    writer.WriteStartObject("Node");
                    WriteNode(writer);
                    writer.WriteStartObject("TaggedAddresses");
                    writer.WriteEndObject();
                    writer.WriteStartObject("Meta");
                    writer.WriteEndObject();
                    writer.WriteEndObject();
                    writer.WritePropertyName("Service");
                    WriteAgentService(writer, view);
                    writer.WriteStartArray("Checks");
                    WriteChecks(writer, instance, view);
                    writer.WriteEndArray();
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            });
        });

        consul.MapGet("/health/checks/{name}", (string name, HttpContext context, InstanceRegistry registry, MeshStateStore state) =>
            ReadAsync(context, state, (writer, trustDomain) =>
            {
                writer.WriteStartArray();
                foreach (var instance in Of(registry, name))
                {
                    WriteChecks(writer, instance, View(instance, trustDomain));
                }

                writer.WriteEndArray();
            }));

        consul.MapGet("/catalog/services", (HttpContext context, InstanceRegistry registry, MeshStateStore state) =>
            ReadAsync(context, state, (writer, trustDomain) =>
            {
                writer.WriteStartObject();
                foreach (var service in registry.List().GroupBy(i => i.Service, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
                {
                    writer.WriteStartArray(service.Key);
                    foreach (var tag in service.SelectMany(i => View(i, trustDomain).Tags).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
                    {
                        writer.WriteStringValue(tag);
                    }

                    writer.WriteEndArray();
                }

                writer.WriteEndObject();
            }));

        consul.MapGet("/catalog/service/{name}", (string name, HttpContext context, InstanceRegistry registry, MeshStateStore state) =>
            ReadAsync(context, state, (writer, trustDomain) =>
            {
                writer.WriteStartArray();
                foreach (var view in Of(registry, name).Select(i => View(i, trustDomain)))
                {
                    writer.WriteStartObject();
                    WriteNode(writer);
                    writer.WriteString("ServiceID", view.Id);
                    writer.WriteString("ServiceName", view.Name);
                    writer.WriteString("ServiceAddress", view.Address);
                    writer.WriteNumber("ServicePort", view.Port);
                    WriteStrings(writer, "ServiceTags", view.Tags);
                    WriteMap(writer, "ServiceMeta", view.Meta);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }));

        consul.MapGet("/status/leader", (HttpContext context) =>
            Json(null, writer => writer.WriteStringValue($"{context.Request.Host.Host}:8300")));

        return endpoints;
    }

    private static IResult UpdateCheck(HttpContext context, InstanceRegistry registry, RegistrationGuard guard, string checkId, string status, string? output, TimeProvider time)
    {
        const string Prefix = "service:";
        if (!checkId.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return Text(StatusCodes.Status404NotFound, $"Unknown check ID {checkId}: service checks are service:<service id>.");
        }

        if (guard.CheckInstance(context, checkId[Prefix.Length..], service: null) is { } refusal)
        {
            return refusal.AsText();
        }

        var now = time.GetUtcNow();
        var hasCheck = false;
        var found = registry.UpdateConsul(checkId[Prefix.Length..], c =>
        {
            hasCheck = c.Ttl is not null;
            return hasCheck ? c.WithCheck(status, output ?? "", now) : c;
        });
        return found && hasCheck ? Results.Ok() : Text(StatusCodes.Status404NotFound, $"Unknown check ID {checkId}");
    }

    // A blocking query (?index=N[&wait=30s]) waits until the registry changes from state N, or the wait (5 min by
    // default, 10 at most) runs out, as Consul's do; its X-Consul-Index is the state's version. A control plane that
    // begins to stop answers its blocking queries at once, as they stand, rather than make its stop wait for them.
    private static async Task<long> BlockAsync(HttpContext context, MeshStateStore state)
    {
        if (long.TryParse(context.Request.Query["index"], NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index > 0)
        {
            var wait = DefaultWait;
            if (context.Request.Query["wait"].ToString() is { Length: > 0 } text)
            {
                try
                {
                    wait = GoDuration.Parse(text, "wait");
                }
                catch (ConsulException)
                {
                    // Consul ignores a wait it cannot read.
                }
            }

            // The store also wakes its watchers for a change it has already counted (it debounces wake-ups): wait on
            // until the version differs from the client's, or the wait is over.
            var time = context.RequestServices.GetRequiredService<TimeProvider>();
            var deadline = time.GetUtcNow() + (wait > MaxWait ? MaxWait : wait);
            using var waiting = OpenEndedRequest.Until(context);
            try
            {
                while (state.Current.Version == index && deadline - time.GetUtcNow() is { } left && left > TimeSpan.Zero
                    && await state.WaitForChangeAsync(index, left, waiting.Token).ConfigureAwait(false) is not null)
                {
                }
            }
            catch (OperationCanceledException) when (OpenEndedRequest.Stopping(context))
            {
            }
        }

        return state.Current.Version;
    }

    // A read: blocks when asked to, then writes the registry as it is then, with the index it was read at.
    private static async Task<IResult> ReadAsync(HttpContext context, MeshStateStore state, Action<Utf8JsonWriter, string> write)
    {
        var version = await BlockAsync(context, state).ConfigureAwait(false);
        var trustDomain = state.Current.Trust.TrustDomain;
        return Json(version, writer => write(writer, trustDomain));
    }

    private static void WriteNode(Utf8JsonWriter writer)
    {
        writer.WriteString("ID", Node);
        writer.WriteString("Node", Node);
        writer.WriteString("Address", "127.0.0.1");
        writer.WriteString("Datacenter", Datacenter);
    }

    private static IEnumerable<RegisteredInstance> Of(InstanceRegistry registry, string name) =>
        registry.List().Where(i => i.Service == name).OrderBy(i => i.Id, StringComparer.Ordinal);

    // An instance registered otherwise (behind a sidecar, or by a Eureka client), as a Consul client sees it: its
    // address and port; a sidecar taking mTLS says secure=true and its identity in Meta (a caller outside the mesh has
    // no certificate, so it goes through the Gateway).
    private static ConsulRegistration View(RegisteredInstance instance, string trustDomain)
    {
        if (instance.Consul is { } consul)
        {
            return consul;
        }

        var address = new Uri(instance.Address);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        if (instance.Eureka is { } eureka)
        {
            foreach (var (key, value) in eureka.Metadata)
            {
                meta[key] = value;
            }
        }
        else
        {
            meta["mesh-sidecar"] = "true";
            if (instance.IdentityIn(trustDomain) is { } identity)
            {
                meta["mesh-identity"] = identity;
            }
        }

        if (instance.Mtls || address.Scheme == Uri.UriSchemeHttps)
        {
            meta["secure"] = "true";
        }

        return new ConsulRegistration(instance.Id, instance.Service, address.IdnHost, address.Port)
        {
            Meta = meta,
            CheckStatus = instance.Healthy ? ConsulRegistration.Passing : ConsulRegistration.Critical,
            CheckOutput = instance.Reason ?? "",
            CheckName = "Mesh health",
        };
    }

    private static void WriteAgentService(Utf8JsonWriter writer, ConsulRegistration service)
    {
        writer.WriteStartObject();
        writer.WriteString("ID", service.Id);
        writer.WriteString("Service", service.Name);
        WriteStrings(writer, "Tags", service.Tags);
        writer.WriteString("Address", service.Address);
        writer.WriteNumber("Port", service.Port);
        WriteMap(writer, "Meta", service.Meta);
        writer.WriteStartObject("TaggedAddresses");
        writer.WriteEndObject();
        writer.WriteBoolean("EnableTagOverride", false);
        writer.WriteString("Datacenter", Datacenter);
        writer.WriteEndObject();
    }

    // Statuses are only ever passing, warning or critical (clients fail on others); maintenance is a critical check
    // named "Service Maintenance Mode", as Consul's.
    private static void WriteChecks(Utf8JsonWriter writer, RegisteredInstance instance, ConsulRegistration view)
    {
        WriteCheck(writer, view, view.CheckId, view.CheckName.Length > 0 ? view.CheckName : $"Service '{view.Name}' check", view.CheckStatus, view.CheckOutput,
            instance.Consul?.CheckType ?? "");
        if (view.Maintenance is { } reason)
        {
            WriteCheck(writer, view, $"_service_maintenance:{view.Id}", "Service Maintenance Mode", ConsulRegistration.Critical, reason, "maintenance");
        }
    }

    private static void WriteCheck(Utf8JsonWriter writer, ConsulRegistration view, string id, string name, string status, string output, string type)
    {
        writer.WriteStartObject();
        writer.WriteString("Node", Node);
        writer.WriteString("CheckID", id);
        writer.WriteString("Name", name);
        writer.WriteString("Status", status);
        writer.WriteString("Notes", "");
        writer.WriteString("Output", output);
        writer.WriteString("ServiceID", view.Id);
        writer.WriteString("ServiceName", view.Name);
        WriteStrings(writer, "ServiceTags", view.Tags);
        writer.WriteString("Type", type);
        writer.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter writer, string name, IEnumerable<string> values)
    {
        writer.WriteStartArray(name);
        foreach (var value in values)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }

    private static void WriteMap(Utf8JsonWriter writer, string name, IReadOnlyDictionary<string, string> map)
    {
        writer.WriteStartObject(name);
        foreach (var (key, value) in map.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            writer.WriteString(key, value);
        }

        writer.WriteEndObject();
    }

    private static string? Text(JsonElement obj, string name) => RawJson.Member(obj, name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    private static IResult Json(long? index, Action<Utf8JsonWriter> write) => new ConsulResult(RawJson.Write(write), index);

    private static IResult Text(int status, string reason) => Results.Text(reason, "text/plain; charset=utf-8", statusCode: status);

    // A read's answer with Consul's headers: X-Consul-Index (the mesh state's version), a known leader, no lag.
    private sealed class ConsulResult(byte[] body, long? index) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            if (index is { } i)
            {
                context.Response.Headers["X-Consul-Index"] = i.ToString(CultureInfo.InvariantCulture);
            }

            context.Response.Headers["X-Consul-KnownLeader"] = "true";
            context.Response.Headers["X-Consul-LastContact"] = "0";
            return Results.Bytes(body, "application/json").ExecuteAsync(context);
        }
    }
}
