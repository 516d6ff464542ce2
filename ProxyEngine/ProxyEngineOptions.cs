using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ProxyEngine;

/// <summary>Who a proxy is and where its control plane is.</summary>
public sealed class ProxyEngineOptions
{
    /// <summary><see cref="ProxyKinds.Sidecar"/> or <see cref="ProxyKinds.Gateway"/>.</summary>
    public required string Kind { get; init; }

    /// <summary>The service the sidecar fronts, or the gateway's name.</summary>
    public required string Name { get; init; }

    /// <summary>Unique id of this proxy (for a sidecar, its instance id).</summary>
    public required string ProxyId { get; init; }

    /// <summary>Base URL of the control plane, e.g. <c>http://localhost:8761/</c>.</summary>
    public required Uri ControlPlane { get; init; }

    /// <summary>How long an upstream may stay silent before the request fails with a timeout.</summary>
    public TimeSpan UpstreamTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long connecting to an upstream may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the last applied snapshot is kept, so a restart can serve it before the control plane answers; null keeps none.</summary>
    public string? StateFile { get; init; }

    /// <summary>
    /// The proxy's mesh identity; with it, endpoints that take mTLS are called over mTLS (their identity checked), and
    /// without it every call is plaintext (in-process test hosts).
    /// </summary>
    public Security.WorkloadIdentity? Identity { get; init; }

    /// <summary>Attempts per request, the first included, when an endpoint fails before the request reached an app.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>
    /// Whether HttpClient records a client span for every forwarded attempt (<see cref="Telemetry.TracePropagation.RecordsSpans"/>);
    /// without, forwarded requests carry the trace context <see cref="Telemetry.TracePropagation.Write"/> writes.
    /// </summary>
    public bool ClientSpans { get; init; }
}
