using System.Globalization;
using System.Text.Json;
using AspireMesh.ControlPlane.Api;
using AspireMesh.ControlPlane.Registry;

namespace AspireMesh.ControlPlane.Eureka;

/// <summary>
/// The registry as Eureka clients read it: the shapes of the Netflix server's JSON codec, with the quirks clients
/// depend on (ports as <c>{"$": number, "@enabled": "true"}</c>, <c>@class</c> markers, timestamps as strings,
/// arrays always, no application without instances, <c>apps__hashcode</c> computed as clients compute it).
/// </summary>
internal static class EurekaDocuments
{
    private const string DataCenterClass = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";
    private const string EmptyMapClass = "java.util.Collections$EmptyMap";

    /// <summary><c>{"applications": ...}</c> of every instance <paramref name="include"/> keeps.</summary>
    public static byte[] Applications(IEnumerable<RegisteredInstance> instances, string trustDomain, Func<RegisteredInstance, bool>? include = null) =>
        RawJson.Write(writer =>
        {
            var apps = Group(instances.Where(i => include?.Invoke(i) ?? true));
            writer.WriteStartObject();
            writer.WriteStartObject("applications");
            writer.WriteString("versions__delta", "1");
            writer.WriteString("apps__hashcode", HashCode(apps.SelectMany(a => a)));
            writer.WriteStartArray("application");
            foreach (var app in apps)
            {
                WriteApplication(writer, app, trustDomain, _ => RegistryChangeLog.Added);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteEndObject();
        });

    /// <summary>
    /// The delta: <c>{"applications": ...}</c> of the recent changes, each instance with its <c>actionType</c>
    /// (ADDED, MODIFIED, DELETED), <c>versions__delta</c> the change log's version, and <c>apps__hashcode</c> that of the
    /// whole registry, which clients compare with their own after applying the changes (a full fetch when they differ).
    /// </summary>
    public static byte[] Delta(long version, IReadOnlyList<RegistryChange> changes, IEnumerable<RegisteredInstance> registry, string trustDomain) =>
        RawJson.Write(writer =>
        {
            var actions = changes.ToDictionary(c => c.Instance.Id, c => c.Action, StringComparer.Ordinal);
            writer.WriteStartObject();
            writer.WriteStartObject("applications");
            writer.WriteString("versions__delta", version.ToString(CultureInfo.InvariantCulture));
            writer.WriteString("apps__hashcode", HashCode(registry));
            writer.WriteStartArray("application");
            foreach (var app in Group(changes.Select(c => c.Instance)))
            {
                WriteApplication(writer, app, trustDomain, i => actions[i.Id]);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteEndObject();
        });

    /// <summary><c>{"application": ...}</c>.</summary>
    public static byte[] Application(IReadOnlyList<RegisteredInstance> instances, string trustDomain) =>
        RawJson.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WritePropertyName("application");
            WriteApplication(writer, Group(instances).Single(), trustDomain, _ => RegistryChangeLog.Added);
            writer.WriteEndObject();
        });

    /// <summary><c>{"instance": ...}</c>.</summary>
    public static byte[] Instance(RegisteredInstance instance, string trustDomain) =>
        RawJson.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WritePropertyName("instance");
            WriteInstance(writer, instance, trustDomain, RegistryChangeLog.Added);
            writer.WriteEndObject();
        });

    /// <summary>The app name an instance is listed under: what its Eureka client registered, else its service upper-cased.</summary>
    public static string AppOf(RegisteredInstance instance) => instance.Eureka?.App ?? instance.Service.ToUpperInvariant();

    /// <summary>Its status as Eureka clients read it.</summary>
    public static string StatusOf(RegisteredInstance instance) => instance.Eureka?.EffectiveStatus ?? (instance.Healthy ? "UP" : "DOWN");

    /// <summary>Its VIP addresses (<c>vipAddress</c>, <c>secureVipAddress</c>): a sidecar's instance has its service's name for both.</summary>
    public static (string? Vip, string? SecureVip) VipsOf(RegisteredInstance instance) =>
        instance.Eureka is { } eureka ? (eureka.VipAddress, eureka.SecureVipAddress) : (instance.Service, instance.Service);

    // Clients recompute it after each fetch: the count of instances per status, statuses in ordinal order, "DOWN_1_UP_3_".
    private static string HashCode(IEnumerable<RegisteredInstance> instances) =>
        string.Concat(instances.GroupBy(StatusOf, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key}_{g.Count().ToString(CultureInfo.InvariantCulture)}_"));

    private static List<IGrouping<string, RegisteredInstance>> Group(IEnumerable<RegisteredInstance> instances) =>
        [.. instances.OrderBy(i => i.Id, StringComparer.Ordinal).GroupBy(AppOf, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)];

    private static void WriteApplication(Utf8JsonWriter writer, IGrouping<string, RegisteredInstance> app, string trustDomain, Func<RegisteredInstance, string> action)
    {
        writer.WriteStartObject();
        writer.WriteString("name", app.Key);
        writer.WriteStartArray("instance");
        foreach (var instance in app)
        {
            WriteInstance(writer, instance, trustDomain, action(instance));
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteInstance(Utf8JsonWriter writer, RegisteredInstance instance, string trustDomain, string action)
    {
        var eureka = instance.Eureka ?? FromMesh(instance);
        var (vip, secureVip) = VipsOf(instance);
        writer.WriteStartObject();
        writer.WriteString("instanceId", eureka.InstanceId);
        writer.WriteString("hostName", eureka.HostName);
        writer.WriteString("app", eureka.App);
        writer.WriteString("ipAddr", eureka.IpAddr);
        writer.WriteString("status", StatusOf(instance));
        writer.WriteString("overriddenStatus", eureka.OverriddenStatus ?? "UNKNOWN");
        WritePort(writer, "port", eureka.Port);
        WritePort(writer, "securePort", eureka.SecurePort);
        writer.WriteNumber("countryId", 1);
        writer.WriteStartObject("dataCenterInfo");
        writer.WriteString("@class", DataCenterClass);
        writer.WriteString("name", eureka.DataCenter);
        writer.WriteEndObject();
        writer.WriteStartObject("leaseInfo");
        writer.WriteNumber("renewalIntervalInSecs", eureka.RenewalIntervalSeconds);
        writer.WriteNumber("durationInSecs", eureka.DurationSeconds);
        writer.WriteNumber("registrationTimestamp", instance.RegisteredAt.ToUnixTimeMilliseconds());
        writer.WriteNumber("lastRenewalTimestamp", instance.LastHeartbeat.ToUnixTimeMilliseconds());
        writer.WriteNumber("evictionTimestamp", 0);
        writer.WriteNumber("serviceUpTimestamp", instance.RegisteredAt.ToUnixTimeMilliseconds());
        writer.WriteEndObject();
        writer.WriteStartObject("metadata");
        var metadata = instance.Eureka is null ? MeshMetadata(instance, trustDomain) : eureka.Metadata;
        if (metadata.Count == 0)
        {
            writer.WriteString("@class", EmptyMapClass);
        }

        foreach (var (key, value) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            writer.WriteString(key, value);
        }

        writer.WriteEndObject();
        WriteIfSet(writer, "homePageUrl", eureka.HomePageUrl);
        WriteIfSet(writer, "statusPageUrl", eureka.StatusPageUrl);
        WriteIfSet(writer, "healthCheckUrl", eureka.HealthCheckUrl);
        WriteIfSet(writer, "vipAddress", vip);
        WriteIfSet(writer, "secureVipAddress", secureVip);
        writer.WriteString("isCoordinatingDiscoveryServer", "false");
        var updated = instance.RegisteredAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        writer.WriteString("lastUpdatedTimestamp", updated);
        writer.WriteString("lastDirtyTimestamp", instance.Eureka is { } own ? own.LastDirtyTimestamp.ToString(CultureInfo.InvariantCulture) : updated);
        writer.WriteString("actionType", action);
        writer.WriteEndObject();
    }

    // An instance registered otherwise (behind a sidecar, or by a Consul client), as a Eureka client sees it: its
    // address, on the secure port when it takes TLS there (a sidecar taking mTLS: a caller outside the mesh has no
    // certificate, so it goes through the Gateway).
    private static EurekaRegistration FromMesh(RegisteredInstance instance)
    {
        var address = new Uri(instance.Address);
        var secure = instance.Mtls || address.Scheme == Uri.UriSchemeHttps;
        return new EurekaRegistration(instance.Service.ToUpperInvariant(), instance.Id, address.IdnHost, address.IdnHost, instance.Healthy ? "UP" : "DOWN",
            new EurekaPort(address.Port, !secure), new EurekaPort(address.Port, secure))
        {
            RenewalIntervalSeconds = instance.Consul is null ? 1 : 30,
            DurationSeconds = instance.Consul is null ? Math.Max(1, (int)Math.Ceiling((instance.ExpiresAt - instance.LastHeartbeat).TotalSeconds)) : 90,
        };
    }

    private static IReadOnlyDictionary<string, string> MeshMetadata(RegisteredInstance instance, string trustDomain)
    {
        if (instance.Consul is { } consul)
        {
            return consul.Meta;
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["mesh.sidecar"] = "true" };
        if (instance.IdentityIn(trustDomain) is { } identity)
        {
            metadata["mesh.identity"] = identity;
        }

        return metadata;
    }

    private static void WritePort(Utf8JsonWriter writer, string name, EurekaPort port)
    {
        writer.WriteStartObject(name);
        writer.WriteNumber("$", port.Number);
        writer.WriteString("@enabled", port.Enabled ? "true" : "false");
        writer.WriteEndObject();
    }

    private static void WriteIfSet(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }

}
