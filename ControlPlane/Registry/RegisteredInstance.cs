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

    /// <summary>Why the instance is unhealthy, as its sidecar said; null when healthy.</summary>
    public string? Reason { get; init; }

    /// <summary>Its own lease, when it is not the control plane's (a Eureka client's, 90 s by default).</summary>
    public TimeSpan? Lease { get; init; }

    /// <summary>What a Eureka client registered, when the instance came through the Eureka API (no sidecar).</summary>
    public Eureka.EurekaRegistration? Eureka { get; init; }

    /// <summary>What a Consul client registered, and its check, when the instance came through the Consul agent API (no sidecar).</summary>
    public Consul.ConsulRegistration? Consul { get; init; }

    /// <summary>The SPIFFE ID callers expect of it in <paramref name="trustDomain"/>: its service's, when its sidecar takes mTLS; else null.</summary>
    public string? IdentityIn(string trustDomain) =>
        Mtls ? AspireMesh.Contracts.Security.SpiffeId.For(trustDomain, AspireMesh.Contracts.Snapshots.ProxyKinds.Sidecar, Service).ToString() : null;

    /// <summary>The longest reason kept: a line for a table, not a log.</summary>
    public const int MaxReasonLength = 300;

    /// <summary>What is kept of a sidecar's reason: none when healthy, one line of at most <see cref="MaxReasonLength"/> characters.</summary>
    public static string? ReasonOf(bool healthy, string? reason)
    {
        if (healthy || string.IsNullOrWhiteSpace(reason))
        {
            return null;
        }

        // Control characters (line breaks, escape sequences) and line separators become spaces: one plain line for
        // tables and logs.
        var plain = string.Create(reason.Length, reason, static (span, text) =>
        {
            for (var i = 0; i < text.Length; i++)
            {
                span[i] = char.IsControl(text[i]) || text[i] is '\u2028' or '\u2029' ? ' ' : text[i];
            }
        });
        var line = string.Join(' ', plain.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        if (line.Length == 0)
        {
            return null;
        }

        if (line.Length <= MaxReasonLength)
        {
            return line;
        }

        // Cut before the ellipsis, never between the two halves of a surrogate pair.
        var cut = MaxReasonLength - 1;
        if (char.IsHighSurrogate(line[cut - 1]))
        {
            cut--;
        }

        return string.Concat(line.AsSpan(0, cut), "…");
    }
}
