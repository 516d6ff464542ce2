using System.Globalization;
using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.Api;

namespace AspireMesh.ControlPlane.Consul;

/// <summary>
/// A service instance a Consul client (Steeltoe.Discovery.Consul, node-consul) registered with the agent API, and the
/// state of its one check. It joins the mesh's registry as an instance of service <see cref="Name"/>, healthy while its
/// check passes and it is not in maintenance.
/// </summary>
internal sealed record ConsulRegistration(string Id, string Name, string Address, int Port)
{
    public const string Passing = "passing";
    public const string Warning = "warning";
    public const string Critical = "critical";

    public IReadOnlyList<string> Tags { get; init; } = [];

    public IReadOnlyDictionary<string, string> Meta { get; init; } = new Dictionary<string, string>();

    /// <summary>The TTL of its check: without a pass for this long, the check turns critical. Null: no check (always passing).</summary>
    public TimeSpan? Ttl { get; init; }

    /// <summary>How long its check may stay critical before the instance is deregistered; null: never.</summary>
    public TimeSpan? DeregisterCriticalAfter { get; init; }

    public string CheckName { get; init; } = "";

    public string CheckStatus { get; init; } = Passing;

    public string CheckOutput { get; init; } = "";

    /// <summary>When the TTL runs out without another pass.</summary>
    public DateTimeOffset TtlDeadline { get; init; } = DateTimeOffset.MaxValue;

    /// <summary>When its check turned critical, if it is.</summary>
    public DateTimeOffset? CriticalSince { get; init; }

    /// <summary>Why it is in maintenance (<c>PUT /v1/agent/service/maintenance/{id}?enable=true</c>), if it is.</summary>
    public string? Maintenance { get; init; }

    /// <summary>Consul's id of the service's check.</summary>
    public string CheckId => $"service:{Id}";

    /// <summary>Only a passing check, out of maintenance, takes traffic (Consul's <c>?passing</c>).</summary>
    public bool Healthy => CheckStatus == Passing && Maintenance is null;

    /// <summary>Where the mesh reaches it: https when its metadata says <c>secure=true</c> (Steeltoe's convention).</summary>
    public string Url => RawJson.Url(Meta.TryGetValue("secure", out var secure) && secure == "true" ? Uri.UriSchemeHttps : Uri.UriSchemeHttp, Address, Port);

    /// <summary>When the registry may forget it: a while after its check turned critical, when it asked for that.</summary>
    public DateTimeOffset ExpiresAt => CriticalSince is { } since && DeregisterCriticalAfter is { } after ? since + after : DateTimeOffset.MaxValue;

    /// <summary>Why the mesh does not route to it, when it does not.</summary>
    public string? Reason => Maintenance is { } why
        ? $"in Consul maintenance mode{(why.Length > 0 ? $": {why}" : "")}"
        : CheckStatus == Passing ? null : $"its Consul check is {CheckStatus}{(CheckOutput.Length > 0 ? $": {CheckOutput}" : "")}";

    /// <summary>
    /// Reads <c>PUT /v1/agent/service/register</c> as the agent does: member names in any case, <c>ID</c> defaulting to
    /// <c>Name</c>, one check (<c>Check</c>, or <c>Checks</c> with one entry) that is a TTL check or none; a check's
    /// first status is critical unless it says otherwise, as Consul's.
    /// </summary>
    public static ConsulRegistration Parse(JsonElement body, DateTimeOffset now)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw new ConsulException("The body is not a service definition object.");
        }

        var name = Text(body, "Name");
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new ConsulException("Missing service name");
        }

        if (!MeshConfigValidator.IsDnsLabel(name))
        {
            throw new ConsulException($"Service name {name} cannot name a mesh service: use lower-case letters, digits or '-', starting with a letter.");
        }

        var id = Text(body, "ID") ?? name;
        if (id.Length > 253 || id.Contains('/', StringComparison.Ordinal))
        {
            throw new ConsulException($"Service ID {id} is not usable: at most 253 characters, no '/'.");
        }

        var address = Text(body, "Address");
        if (string.IsNullOrWhiteSpace(address))
        {
            throw new ConsulException("Missing service address: the mesh reaches the instance at Address:Port (there is no agent node address to fall back to).");
        }

        var port = Member(body, "Port") is { ValueKind: JsonValueKind.Number } p && p.TryGetInt32(out var n) ? n : 0;
        if (port is <= 0 or > 65535)
        {
            throw new ConsulException($"Service port {port} is not a TCP port (1-65535).");
        }

        var registration = new ConsulRegistration(id, name, address, port)
        {
            Tags = Member(body, "Tags") is { ValueKind: JsonValueKind.Array } tags ? [.. tags.EnumerateArray().Select(t => t.GetString()).OfType<string>()] : [],
            Meta = Member(body, "Meta") is { ValueKind: JsonValueKind.Object } meta
                ? meta.EnumerateObject().Where(m => m.Value.ValueKind == JsonValueKind.String).ToDictionary(m => m.Name, m => m.Value.GetString()!, StringComparer.Ordinal)
                : new Dictionary<string, string>(StringComparer.Ordinal),
        };
        var check = Member(body, "Check") is { ValueKind: JsonValueKind.Object } single ? single : default;
        if (Member(body, "Checks") is { ValueKind: JsonValueKind.Array } checks && checks.GetArrayLength() > 0)
        {
            if (check.ValueKind != JsonValueKind.Undefined || checks.GetArrayLength() > 1)
            {
                throw new ConsulException("Only one check per service is supported (Check, or Checks with one entry).");
            }

            check = checks[0];
        }

        if (check.ValueKind != JsonValueKind.Object)
        {
            return registration;
        }

        if (Text(check, "TTL") is not { } ttlText)
        {
            var kind = new[] { "HTTP", "TCP", "GRPC", "UDP", "H2Ping", "Args", "AliasService", "AliasNode" }.FirstOrDefault(k => Member(check, k) is not null) ?? "this";
            throw new ConsulException($"Only TTL checks are supported (the client passes them); a {kind} check would have the control plane probe the instance, which it does not.");
        }

        var ttl = GoDuration.Parse(ttlText, "Check.TTL");
        var deregister = Text(check, "DeregisterCriticalServiceAfter") is { } after ? GoDuration.Parse(after, "Check.DeregisterCriticalServiceAfter") : (TimeSpan?)null;
        var status = Text(check, "Status")?.ToLowerInvariant() ?? Critical;
        if (status is not (Passing or Warning or Critical))
        {
            throw new ConsulException($"Check.Status {status} is not passing, warning or critical.");
        }

        return registration with
        {
            Ttl = ttl,
            DeregisterCriticalAfter = deregister,
            CheckName = Text(check, "Name") ?? $"Service '{name}' check",
            CheckStatus = status,
            CheckOutput = status == Critical ? "TTL check not yet passed" : "",
            TtlDeadline = status == Critical ? DateTimeOffset.MaxValue : now + ttl,
            CriticalSince = status == Critical ? now : null,
        };
    }

    /// <summary>The check's new state after a pass, warn, fail or update: a TTL renewal unless it is critical.</summary>
    public ConsulRegistration WithCheck(string status, string output, DateTimeOffset now) => this with
    {
        CheckStatus = status,
        CheckOutput = output,
        TtlDeadline = Ttl is { } ttl ? now + ttl : DateTimeOffset.MaxValue,
        CriticalSince = status == Critical ? CriticalSince ?? now : null,
    };

    // The agent matches member names case-insensitively (clients send ID, Id or id).
    private static JsonElement? Member(JsonElement obj, string name) => RawJson.Member(obj, name);

    private static string? Text(JsonElement obj, string name) => Member(obj, name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;
}

/// <summary>Go's duration strings, as Consul writes them: <c>30s</c>, <c>1m30s</c>, <c>30m0s</c>, <c>500ms</c>, <c>1h</c>.</summary>
internal static class GoDuration
{
    public static TimeSpan Parse(string text, string where)
    {
        var total = TimeSpan.Zero;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            var unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            if (start == unitStart || !double.TryParse(text.AsSpan(start, unitStart - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            {
                throw new ConsulException($"{where} '{text}' is not a duration like 30s, 1m30s or 500ms.");
            }

            total += text[unitStart..i] switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                "s" => TimeSpan.FromSeconds(value),
                "ms" => TimeSpan.FromMilliseconds(value),
                "us" or "µs" => TimeSpan.FromMicroseconds(value),
                "ns" => TimeSpan.FromTicks((long)(value / 100)),
                _ => throw new ConsulException($"{where} '{text}' is not a duration like 30s, 1m30s or 500ms."),
            };
        }

        return text.Length > 0 && total > TimeSpan.Zero ? total : throw new ConsulException($"{where} '{text}' is not a positive duration.");
    }
}

/// <summary>A request a Consul client must be told is wrong (400 with the reason, as the agent answers).</summary>
internal sealed class ConsulException(string message) : Exception(message);
