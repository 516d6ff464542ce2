namespace AspireMesh.Contracts.Registry;

/// <summary>What a sidecar tells the control plane about the instance it fronts (PUT /v1/instances/{id}).</summary>
/// <param name="Service">The service name the instance belongs to, e.g. <c>catalog</c>.</param>
/// <param name="Address">Where peers reach the instance: its sidecar's inbound listener, e.g. <c>http://127.0.0.1:5301</c>.</param>
/// <param name="Healthy">Whether the application behind the sidecar currently passes its health check.</param>
public sealed record InstanceRegistration(string Service, string Address, bool Healthy)
{
    /// <summary>
    /// The sidecar's inbound listener for HTTP/2 with prior knowledge (h2c), e.g. <c>http://127.0.0.1:5302</c>, when it
    /// has one: peers that can speak HTTP/2 call it there and multiplex their requests on few connections.
    /// </summary>
    public string? Http2Address { get; init; }

    /// <summary>
    /// Whether the sidecar holds a mesh certificate and takes mTLS (TLS with ALPN h2/http1.1) on <see cref="Address"/>'s
    /// port: peers with certificates then call it over mTLS, expecting the service's SPIFFE ID.
    /// </summary>
    public bool Mtls { get; init; }

    /// <summary>When not <see cref="Healthy"/>: why, in a line an operator can act on (the app's failed health check, a sidecar not configured yet).</summary>
    public string? Reason { get; init; }
}

/// <summary>A lease renewal (POST /v1/instances/{id}/heartbeat), carrying the latest health of the instance.</summary>
public sealed record Heartbeat(bool Healthy)
{
    /// <summary>When not <see cref="Healthy"/>: why (see <see cref="InstanceRegistration.Reason"/>).</summary>
    public string? Reason { get; init; }
}

/// <summary>The answer to a registration: how often to renew and when the lease runs out.</summary>
public sealed record LeaseGrant(string InstanceId, double HeartbeatIntervalSeconds, double LeaseDurationSeconds);

/// <summary>GET /v1/services: every known service with its instances.</summary>
/// <param name="Version">The mesh state version this listing was taken from.</param>
public sealed record ServiceList(long Version, IReadOnlyList<ServiceStatus> Services);

/// <summary>A service and its registered instances.</summary>
public sealed record ServiceStatus(string Name, IReadOnlyList<InstanceStatus> Instances);

/// <summary>One registered instance as the control plane sees it.</summary>
/// <param name="Health"><c>healthy</c> or <c>unhealthy</c> (see <see cref="InstanceHealth"/>).</param>
public sealed record InstanceStatus(string Id, string Address, string Health, DateTimeOffset RegisteredAt, DateTimeOffset LastHeartbeat)
{
    /// <summary>The instance's HTTP/2 (h2c) inbound address, if it has one.</summary>
    public string? Http2Address { get; init; }

    /// <summary>The SPIFFE ID peers expect when they call the instance over mTLS; null when it takes plaintext only.</summary>
    public string? Identity { get; init; }

    /// <summary>Why the instance is unhealthy, as its sidecar last said; null when healthy.</summary>
    public string? Reason { get; init; }

    /// <summary>
    /// Which API registered it, when not the control plane's own (<see cref="InstanceRegistrars.Api"/>, which sidecars
    /// use): <see cref="InstanceRegistrars.Eureka"/> or <see cref="InstanceRegistrars.Consul"/>. Null (and not written)
    /// otherwise, so that listings of meshes without such clients are unchanged for older readers.
    /// </summary>
    public string? RegisteredBy { get; init; }
}

/// <summary>Well-known values of <see cref="InstanceStatus.RegisteredBy"/>.</summary>
public static class InstanceRegistrars
{
    /// <summary>The control plane's own registry API (<c>PUT /v1/instances/{id}</c>), which sidecars use.</summary>
    public const string Api = "api";

    /// <summary>A Eureka client, through <c>/eureka/apps</c>; the instance has no sidecar.</summary>
    public const string Eureka = "eureka";

    /// <summary>A Consul client, through <c>/v1/agent/service/register</c>; the instance has no sidecar.</summary>
    public const string Consul = "consul";
}

/// <summary>Well-known values of <see cref="InstanceStatus.Health"/>.</summary>
public static class InstanceHealth
{
    /// <summary>The application passes its health check and the lease is current.</summary>
    public const string Healthy = "healthy";

    /// <summary>The lease is current but the instance cannot take traffic: its application fails its health check, or its sidecar has no configuration yet (<see cref="InstanceStatus.Reason"/> says which).</summary>
    public const string Unhealthy = "unhealthy";
}
