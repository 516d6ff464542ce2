using AspireMesh.Contracts.Config;

namespace AspireMesh.Contracts.Snapshots;

/// <summary>
/// Everything one proxy needs, computed for it by the control plane: the routes it serves, the clusters (services
/// with their endpoints and backend policy) those routes send to, its inbound policies and its egress allowances.
/// Proxies apply a snapshot whole or not at all.
/// </summary>
/// <param name="Version">Version of the mesh state the snapshot was generated from; any change gives a new one.</param>
public sealed record ProxySnapshot(long Version, IReadOnlyList<RouteSnapshot> Routes, IReadOnlyList<ClusterSnapshot> Clusters)
{
    /// <summary>The config version the snapshot reflects.</summary>
    public long ConfigVersion { get; init; }

    /// <summary>Policies for requests this proxy receives (a sidecar's own service).</summary>
    public InboundPolicySnapshot Inbound { get; init; } = new();

    /// <summary>Hosts outside the mesh this proxy's app may call.</summary>
    public IReadOnlyList<EgressPolicy> Egress { get; init; } = [];

    /// <summary>The mesh's trusted roots, PEM (more than one while a root rotation overlaps); empty when unknown.</summary>
    public IReadOnlyList<string> TrustBundle { get; init; } = [];

    /// <summary>
    /// Features, added to the mesh after 0.1.0, that this snapshot uses and that a proxy must implement to serve it. A
    /// proxy reads a snapshot tolerantly (fields it does not know are skipped and reported), so a field whose absence
    /// would weaken what the config asks (a new deny condition, a stricter TLS setting) comes with a feature name here:
    /// a proxy that does not know it refuses the snapshot and keeps serving its previous one, rather than serving it
    /// without. A field whose absence only loses a nicety needs no entry. Null (and not written) when none is required,
    /// so that the snapshots proxies of 0.1.0 read are unchanged.
    /// </summary>
    public IReadOnlyList<string>? Requires { get; init; }
}

/// <summary>A compiled route: which requests it takes, what it does to them, and where they go.</summary>
/// <param name="Name">Unique within the snapshot: <c>route/rules/i/matches/j</c>.</param>
/// <param name="Hosts">Host names the request's Host must match; empty or null means any host.</param>
/// <param name="Path">Path match; null means any path.</param>
/// <param name="Cluster">The cluster of the first backend (every route has one unless it only redirects).</param>
/// <param name="Order">Lower values are tried first (Gateway API precedence, computed by the control plane).</param>
public sealed record RouteSnapshot(string Name, IReadOnlyList<string>? Hosts, PathMatchSnapshot? Path, string Cluster, int Order = 0)
{
    /// <summary>Header matches.</summary>
    public IReadOnlyList<HttpValueMatch> Headers { get; init; } = [];

    /// <summary>Query parameter matches.</summary>
    public IReadOnlyList<HttpValueMatch> QueryParams { get; init; } = [];

    /// <summary>HTTP method, when the match names one.</summary>
    public string? Method { get; init; }

    /// <summary>Weighted backends; more than one means a traffic split.</summary>
    public IReadOnlyList<BackendReference> Backends { get; init; } = [];

    /// <summary>Filters, in order.</summary>
    public IReadOnlyList<HttpRouteFilter> Filters { get; init; } = [];

    /// <summary>Timeouts.</summary>
    public HttpRouteTimeouts? Timeouts { get; init; }

    /// <summary>Retries.</summary>
    public HttpRouteRetry? Retry { get; init; }

    /// <summary>A rate limit targeting the route.</summary>
    public RateLimitPolicy? RateLimit { get; init; }

    /// <summary>On a gateway: the credential clients must present (the route's own policy, else its gateway's).</summary>
    public AuthenticationPolicy? Authentication { get; init; }
}

/// <summary>A path match in Gateway API terms.</summary>
/// <param name="Type"><see cref="PathMatchTypes.Exact"/>, <see cref="PathMatchTypes.PathPrefix"/> or <c>RegularExpression</c>.</param>
public sealed record PathMatchSnapshot(string Type, string Value);

/// <summary>Gateway API path match types.</summary>
public static class PathMatchTypes
{
    /// <summary>The path equals the value.</summary>
    public const string Exact = "Exact";

    /// <summary>The path equals the value or continues it after a '/'.</summary>
    public const string PathPrefix = "PathPrefix";

    /// <summary>The path matches a regular expression.</summary>
    public const string RegularExpression = "RegularExpression";
}

/// <summary>A service as a load-balancing target: its healthy endpoints and the backend policy for calling it.</summary>
public sealed record ClusterSnapshot(string Name, IReadOnlyList<EndpointSnapshot> Endpoints)
{
    /// <summary>Backend policy, when one targets the service.</summary>
    public BackendPolicy? Policy { get; init; }
}

/// <summary>One endpoint of a cluster: an instance's sidecar inbound address.</summary>
public sealed record EndpointSnapshot(string InstanceId, string Address)
{
    /// <summary>Its HTTP/2 (h2c, prior knowledge) inbound address, when its sidecar has one.</summary>
    public string? Http2Address { get; init; }

    /// <summary>
    /// The SPIFFE ID the endpoint's certificate carries, when it takes mTLS on <see cref="Address"/>'s port; callers that
    /// hold a certificate then use mTLS and refuse a peer that proves another identity.
    /// </summary>
    public string? Identity { get; init; }
}

/// <summary>Policies applied to requests a sidecar receives for its service.</summary>
public sealed record InboundPolicySnapshot
{
    /// <summary>Authorization policies targeting the service.</summary>
    public IReadOnlyList<AuthorizationPolicy> Authorization { get; init; } = [];

    /// <summary>Rate limits targeting the service.</summary>
    public IReadOnlyList<RateLimitPolicy> RateLimits { get; init; } = [];

    /// <summary>
    /// The credential (JWT or API key) every request to the service must carry, checked by its sidecar before
    /// authorization (an authentication policy targeting the service); null when it requires none.
    /// </summary>
    public AuthenticationPolicy? Authentication { get; init; }

    /// <summary><see cref="MtlsModes.Strict"/> (callers must prove their identity) or <see cref="MtlsModes.Permissive"/>.</summary>
    public string Mtls { get; init; } = MtlsModes.Strict;

    /// <summary>
    /// The path the mesh's active health checks probe on the service (its backend policy's <c>healthCheck.path</c>), when
    /// it has them: a <c>GET</c> or <c>HEAD</c> of that path is a probe, which neither authorization policies nor rate
    /// limits refuse, so that a policy never makes the mesh take healthy instances out of rotation.
    /// </summary>
    public string? HealthCheckPath { get; init; }

    /// <summary>
    /// The headers in which gateways tell apps who their clients proved to be (<see cref="GatewayIdentityHeaders.Of"/>,
    /// lower case): the sidecar removes them from every request that does not come from a gateway with a proven mesh
    /// identity, so that no other caller can speak for a gateway. Settable, not init-only, so that a snapshot written
    /// without it (by an older control plane, or saved by an older proxy) keeps the built-in ones rather than null.
    /// </summary>
    public IReadOnlyList<string> GatewayIdentityHeaders { get; set; } = Config.GatewayIdentityHeaders.BuiltIn;
}

/// <summary>Features added after 0.1.0 that a snapshot can require (<see cref="ProxySnapshot.Requires"/>).</summary>
public static class SnapshotFeatures
{
    /// <summary>The sidecar checks the credential its service requires (<see cref="InboundPolicySnapshot.Authentication"/>).</summary>
    public const string ServiceAuthentication = "service-authentication";

    /// <summary>Authorization rules match end users (<see cref="Config.AuthorizationRule.RequestPrincipals"/>): a proxy that ignored them would allow more.</summary>
    public const string RequestPrincipals = "request-principals";
}

/// <summary>The kinds of proxy the control plane generates snapshots for.</summary>
public static class ProxyKinds
{
    /// <summary>A sidecar beside a service instance.</summary>
    public const string Sidecar = "sidecar";

    /// <summary>An ingress gateway.</summary>
    public const string Gateway = "gateway";
}
