using System.Text.Json;
using System.Text.Json.Serialization;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.Contracts;

/// <summary>
/// Source-generated JSON metadata for every wire type: camelCase, unknown members refused, and null refused where the
/// type says a value is required. (Config types use settable properties: the generator assigns every init-only
/// property when constructing, which would replace the defaults of omitted keys with null.)
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(InstanceRegistration))]
[JsonSerializable(typeof(Heartbeat))]
[JsonSerializable(typeof(LeaseGrant))]
[JsonSerializable(typeof(ServiceList))]
[JsonSerializable(typeof(ProxySnapshot))]
[JsonSerializable(typeof(MeshConfig))]
[JsonSerializable(typeof(ProxyReadiness))]
[JsonSerializable(typeof(MeshProblem))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(ConfigWriteResult))]
[JsonSerializable(typeof(ConfigVersionList))]
[JsonSerializable(typeof(RollbackRequest))]
[JsonSerializable(typeof(ConfigPlan))]
[JsonSerializable(typeof(ProxyReport))]
[JsonSerializable(typeof(ProxyList))]
[JsonSerializable(typeof(RouteSnapshot))]
[JsonSerializable(typeof(ClusterSnapshot))]
[JsonSerializable(typeof(ProxyStats))]
[JsonSerializable(typeof(TapEvent))]
[JsonSerializable(typeof(MeshStats))]
[JsonSerializable(typeof(ResourceSnapshot))]
[JsonSerializable(typeof(ResourceList))]
[JsonSerializable(typeof(ResourceLogBatch))]
[JsonSerializable(typeof(ResourceLogs))]
[JsonSerializable(typeof(AuthorizationPolicy))]
[JsonSerializable(typeof(RateLimitPolicy))]
[JsonSerializable(typeof(AuthenticationPolicy))]
[JsonSerializable(typeof(EgressPolicy))]
[JsonSerializable(typeof(BackendPolicy))]
[JsonSerializable(typeof(CertificateSigningRequest))]
[JsonSerializable(typeof(IssuedCertificate))]
[JsonSerializable(typeof(CertificateAuthorityInfo))]
[JsonSerializable(typeof(BootstrapCredentialRequest))]
[JsonSerializable(typeof(BootstrapCredentialGrant))]
[JsonSerializable(typeof(RegistrationTokenRequest))]
[JsonSerializable(typeof(RegistrationTokenGrant))]
[JsonSerializable(typeof(RegistrationTokenRevocation))]
[JsonSerializable(typeof(BootstrapCredentialRevocation))]
[JsonSerializable(typeof(CredentialRevoked))]
public sealed partial class MeshJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The same contract for reading what another mesh component wrote (snapshots, registrations, heartbeats, reports,
    /// stats, the control plane's answers), except that members this build does not know are skipped: a control plane
    /// and proxies one version apart keep working during a rolling upgrade or a rollback. What people write (mesh
    /// config, rollback requests) is read with <see cref="Default"/>, which refuses them, so a typo never passes.
    /// </summary>
    public static MeshJsonContext Tolerant =>
        field ??= new(new JsonSerializerOptions(Default.Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip });
}

/// <summary>What a proxy's admin /ready answers.</summary>
/// <param name="Ready">Whether the proxy can serve traffic.</param>
/// <param name="Version">Version of the snapshot it applied, 0 before the first.</param>
/// <param name="Reasons">Why it is not ready, when it is not.</param>
public sealed record ProxyReadiness(bool Ready, long Version, IReadOnlyList<string> Reasons);

/// <summary>An RFC 9457 problem body, used for every error the control plane answers.</summary>
public sealed record MeshProblem(string Title, int Status, string? Detail = null, IReadOnlyList<ConfigError>? Errors = null);
