namespace AspireMesh.ControlPlane.Registry;

/// <summary>An immutable view of one registered instance.</summary>
internal sealed record RegisteredInstance(
    string Id,
    string Service,
    string Address,
    bool Healthy,
    DateTimeOffset RegisteredAt,
    DateTimeOffset LastHeartbeat,
    DateTimeOffset ExpiresAt)
{
    /// <summary>The sidecar's HTTP/2 (h2c) inbound address, if it has one.</summary>
    public string? Http2Address { get; init; }

    /// <summary>Whether the sidecar takes mTLS on its inbound address.</summary>
    public bool Mtls { get; init; }
}
