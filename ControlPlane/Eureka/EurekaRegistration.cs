using System.Globalization;
using System.Text.Json;
using AspireMesh.Contracts.Config;

namespace AspireMesh.ControlPlane.Eureka;

/// <summary>
/// What a Eureka client (Steeltoe, Spring Cloud Netflix, eureka-js-client) registered, kept to be answered back as it
/// was sent; the instance joins the mesh's registry as an instance of service <see cref="Service"/>.
/// </summary>
internal sealed record EurekaRegistration(
    string App,
    string InstanceId,
    string HostName,
    string IpAddr,
    string Status,
    EurekaPort Port,
    EurekaPort SecurePort)
{
    /// <summary>Eureka's statuses; anything else a client sends reads as UNKNOWN, as the Netflix server reads it.</summary>
    public static readonly IReadOnlySet<string> Statuses = new HashSet<string>(StringComparer.Ordinal) { "UP", "DOWN", "STARTING", "OUT_OF_SERVICE", "UNKNOWN" };

    public string? VipAddress { get; init; }

    public string? SecureVipAddress { get; init; }

    public string? HomePageUrl { get; init; }

    public string? StatusPageUrl { get; init; }

    public string? HealthCheckUrl { get; init; }

    /// <summary><c>MyOwn</c> or <c>Amazon</c>: the only names clients accept back.</summary>
    public string DataCenter { get; init; } = "MyOwn";

    public int RenewalIntervalSeconds { get; init; } = 30;

    /// <summary>The lease: evicted this long after the last heartbeat (90 s unless the client says otherwise).</summary>
    public int DurationSeconds { get; init; } = 90;

    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>The client's last change, in Unix milliseconds: a heartbeat from a later one asks it to register again.</summary>
    public long LastDirtyTimestamp { get; init; }

    /// <summary>A status set by an operator (<c>PUT .../status?value=OUT_OF_SERVICE</c>): it wins over the client's own.</summary>
    public string? OverriddenStatus { get; init; }

    public string EffectiveStatus => OverriddenStatus ?? Status;

    /// <summary>The mesh service the instance belongs to: the app name in lower case.</summary>
    public string Service => App.ToLowerInvariant();

    /// <summary>Where the mesh reaches it: its plain port when enabled, else its secure port.</summary>
    public string Address => Port.Enabled ? Api.RawJson.Url(Uri.UriSchemeHttp, IpAddr, Port.Number) : Api.RawJson.Url(Uri.UriSchemeHttps, IpAddr, SecurePort.Number);

    /// <summary>
    /// Reads a registration body leniently, as the Netflix server does: the <c>instance</c> wrapper or not, ports as
    /// objects, numbers or strings, nulls anywhere, unknown members ignored. Refuses what Netflix refuses (with its
    /// messages), and what cannot be a mesh instance.
    /// </summary>
    public static EurekaRegistration Parse(JsonElement body, string pathApp, long now)
    {
        var instance = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("instance", out var wrapped) && wrapped.ValueKind == JsonValueKind.Object
            ? wrapped
            : body;
        if (instance.ValueKind != JsonValueKind.Object)
        {
            throw new EurekaException("The body is not an instance object.");
        }

        var hostName = Text(instance, "hostName");
        var id = Text(instance, "instanceId") ?? hostName;
        if (string.IsNullOrWhiteSpace(id))
        {
            throw new EurekaException("Missing instanceId");
        }

        if (id.Length > 253)
        {
            throw new EurekaException($"instanceId is {id.Length} characters long; the mesh takes at most 253.");
        }

        if (string.IsNullOrWhiteSpace(hostName))
        {
            throw new EurekaException("Missing hostname");
        }

        var ipAddr = Text(instance, "ipAddr");
        if (string.IsNullOrWhiteSpace(ipAddr))
        {
            throw new EurekaException("Missing ip address");
        }

        var app = Text(instance, "app")?.ToUpperInvariant();
        if (string.IsNullOrWhiteSpace(app))
        {
            throw new EurekaException("Missing appName");
        }

        if (!string.Equals(app, pathApp.ToUpperInvariant(), StringComparison.Ordinal))
        {
            throw new EurekaException($"Mismatched appName, expecting {pathApp.ToUpperInvariant()} but was {app}");
        }

        if (!MeshConfigValidator.IsDnsLabel(app.ToLowerInvariant()))
        {
            throw new EurekaException($"appName {app} cannot name a mesh service: use letters, digits or '-', starting with a letter.");
        }

        var port = ReadPort(instance, "port", new EurekaPort(7001, true));
        var securePort = ReadPort(instance, "securePort", new EurekaPort(7002, false));
        if (!port.Enabled && !securePort.Enabled)
        {
            throw new EurekaException("Neither port nor securePort is enabled: the mesh has no address to reach the instance at.");
        }

        if (!(port.Enabled ? port : securePort).IsValid)
        {
            throw new EurekaException($"{(port.Enabled ? "port" : "securePort")} {(port.Enabled ? port : securePort).Number} is not a TCP port (1-65535).");
        }

        var status = Text(instance, "status")?.ToUpperInvariant() ?? "UP";
        var lease = instance.TryGetProperty("leaseInfo", out var leaseInfo) && leaseInfo.ValueKind == JsonValueKind.Object ? leaseInfo : default;
        var dataCenter = instance.TryGetProperty("dataCenterInfo", out var dc) && dc.ValueKind == JsonValueKind.Object ? Text(dc, "name") : null;
        return new EurekaRegistration(app, id, hostName, ipAddr, Statuses.Contains(status) ? status : "UNKNOWN", port, securePort)
        {
            VipAddress = Text(instance, "vipAddress"),
            SecureVipAddress = Text(instance, "secureVipAddress"),
            HomePageUrl = Text(instance, "homePageUrl"),
            StatusPageUrl = Text(instance, "statusPageUrl"),
            HealthCheckUrl = Text(instance, "healthCheckUrl"),
            DataCenter = dataCenter is "Amazon" ? "Amazon" : "MyOwn",
            RenewalIntervalSeconds = Positive(lease, "renewalIntervalInSecs") ?? 30,
            DurationSeconds = Positive(lease, "durationInSecs") ?? 90,
            Metadata = ReadMetadata(instance),
            LastDirtyTimestamp = long.TryParse(Text(instance, "lastDirtyTimestamp"), NumberStyles.None, CultureInfo.InvariantCulture, out var dirty) && dirty > 0 ? dirty : now,
        };
    }

    private static string? Text(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) ? value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        } : null;

    private static int? Positive(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && int.TryParse(Text(obj, name), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;

    // {"$": 8080, "@enabled": "true"}, or a bare 8080 or "8080" (enabled); "@enabled" as a string or a boolean.
    private static EurekaPort ReadPort(JsonElement instance, string name, EurekaPort absent)
    {
        if (!instance.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return absent;
        }

        if (value.ValueKind == JsonValueKind.Object)
        {
            var number = int.TryParse(Text(value, "$"), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n : absent.Number;
            var enabled = Text(value, "@enabled") is { } flag ? string.Equals(flag, "true", StringComparison.OrdinalIgnoreCase) : absent.Enabled;
            return new EurekaPort(number, enabled);
        }

        return int.TryParse(Text(instance, name), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var bare)
            ? new EurekaPort(bare, true)
            : throw new EurekaException($"{name} is neither a number nor a {{\"$\": number, \"@enabled\": \"true\"}} object.");
    }

    private static Dictionary<string, string> ReadMetadata(JsonElement instance)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (instance.TryGetProperty("metadata", out var value) && value.ValueKind == JsonValueKind.Object)
        {
            foreach (var member in value.EnumerateObject())
            {
                if (member.Name == "@class" || member.Value.ValueKind == JsonValueKind.Null)
                {
                    continue;
                }

                metadata[member.Name] = member.Value.ValueKind == JsonValueKind.String ? member.Value.GetString()! : member.Value.GetRawText();
            }
        }

        return metadata;
    }
}

/// <summary>A Eureka port: its number and whether the instance takes traffic on it.</summary>
internal readonly record struct EurekaPort(int Number, bool Enabled)
{
    public bool IsValid => Number is > 0 and <= 65535;
}

/// <summary>A request a Eureka client must be told is wrong (400, with Netflix's wording where it has one).</summary>
internal sealed class EurekaException(string message) : Exception(message);
