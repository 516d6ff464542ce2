namespace AspireMesh.ControlPlane;

/// <summary>Settings of the control plane (configuration section <c>ControlPlane</c>).</summary>
public sealed class ControlPlaneOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string SectionName = "ControlPlane";

    /// <summary>
    /// Path of a mesh config file (JSON or YAML) to load at start, and again whenever its content changes (a Kubernetes
    /// ConfigMap edited, a file saved); none means an empty mesh.
    /// </summary>
    public string? ConfigPath { get; set; }

    /// <summary>How often <see cref="ConfigPath"/> is read for changes (its content, so a ConfigMap's swapped symlinks count too).</summary>
    public TimeSpan ConfigPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// A mesh config document (JSON or YAML) to apply at start, given inline (environment variable
    /// <c>ControlPlane__Config</c>), where no file can be mounted (a published Aspire manifest). Ignored when
    /// <see cref="ConfigPath"/> is set.
    /// </summary>
    public string? Config { get; set; }

    /// <summary>How often sidecars are told to renew their lease.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a lease lasts without renewal before the instance is evicted.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>Where config history and the admin token are kept; default a per-user folder.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>How long a burst of changes is gathered before watchers are woken.</summary>
    public TimeSpan PushDebounce { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Largest config document accepted by the API.</summary>
    public int MaxConfigBytes { get; set; } = 1024 * 1024;

    /// <summary>How long a watch request waits for a change before answering 304.</summary>
    public TimeSpan WatchTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the proxies' request statistics are collected for the dashboard and the CLI.</summary>
    public TimeSpan StatsInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a proxy that stopped watching (gone, or cut off) stays listed by <c>GET /v1/proxies</c> and the dashboard,
    /// as not watching, before it is forgotten.
    /// </summary>
    public TimeSpan ProxyRetention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The SPIFFE trust domain of workload identities (<c>spiffe://trust-domain/ns/namespace/sa/service</c>).</summary>
    public string TrustDomain { get; set; } = AspireMesh.Contracts.Security.SpiffeId.DefaultTrustDomain;

    /// <summary>Lifetime of workload certificates (24 h by default; proxies renew at half of it).</summary>
    public TimeSpan CertificateLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>A root certificate (PEM) to issue from instead of generating one; needs <see cref="CaKey"/>.</summary>
    public string? CaCertificate { get; set; }

    /// <summary>The private key (PEM) of <see cref="CaCertificate"/>.</summary>
    public string? CaKey { get; set; }

    /// <summary>
    /// More names and addresses (comma-separated) the certificate of the control plane's HTTPS listeners is for, beside
    /// localhost, this machine's name, the loopback addresses and the hosts of the listener URLs: the names clients reach
    /// it by (a Kubernetes Service's DNS names, a load balancer's address).
    /// </summary>
    public string? ServerNames { get; set; }

    /// <summary>How long a rotated-out root stays trusted; default twice the certificate lifetime (every workload renews under the new root meanwhile).</summary>
    public TimeSpan? RootOverlap { get; set; }

    /// <summary>
    /// Whether the admin API and the dashboard answer requests from this machine (loopback) without the admin token;
    /// from anywhere else they always need it.
    /// </summary>
    public bool OpenOnLoopback { get; set; } = true;

    /// <summary>
    /// Whether anyone who reaches the control plane may register instances, report and watch as a proxy, as before registration
    /// tokens: for an upgrade from proxies of 0.1.0, which send none. Off by default: from anywhere but this machine
    /// (see <see cref="OpenOnLoopback"/>) these need a registration token.
    /// </summary>
    public bool OpenRegistration { get; set; }
}
