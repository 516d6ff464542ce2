namespace AspireMesh.Contracts.Admin;

/// <summary>The answer to an accepted config write (PUT /v1/config, POST /v1/config/rollback).</summary>
/// <param name="Version">The config version now serving.</param>
/// <param name="Unchanged">True when the document equals the current config, so no new version was made.</param>
public sealed record ConfigWriteResult(long Version, DateTimeOffset AcceptedAt, bool Unchanged);

/// <summary>One entry of GET /v1/config/versions.</summary>
public sealed record ConfigVersionInfo(long Version, DateTimeOffset AcceptedAt, string Source, int Services, int Routes, int Policies, bool Current);

/// <summary>GET /v1/config/versions: the kept versions, newest first.</summary>
public sealed record ConfigVersionList(IReadOnlyList<ConfigVersionInfo> Versions);

/// <summary>POST /v1/config/rollback body.</summary>
public sealed record RollbackRequest(long Version);

/// <summary>POST /v1/config/plan: what applying a document would change, per proxy, without applying it.</summary>
/// <param name="BaseVersion">The config version the plan compares against.</param>
public sealed record ConfigPlan(long BaseVersion, IReadOnlyList<ProxyPlan> Proxies);

/// <summary>The changes one proxy (a service's sidecars, or a gateway) would see.</summary>
/// <param name="Kind"><c>sidecar</c> or <c>gateway</c>.</param>
/// <param name="Name">Service or gateway name.</param>
/// <param name="ConnectedProxies">Ids of the proxies of that kind and name watching now.</param>
public sealed record ProxyPlan(string Kind, string Name, IReadOnlyList<string> ConnectedProxies, ChangeSet Routes, ChangeSet Backends, ChangeSet Policies)
{
    /// <summary>Whether anything changes for this proxy.</summary>
    public bool Changes => Routes.Any || Backends.Any || Policies.Any;
}

/// <summary>Names added, removed and changed.</summary>
public sealed record ChangeSet(IReadOnlyList<string> Added, IReadOnlyList<string> Removed, IReadOnlyList<string> Changed)
{
    /// <summary>Whether the set is not empty.</summary>
    public bool Any => Added.Count + Removed.Count + Changed.Count > 0;
}

/// <summary>What a proxy reports after each snapshot (POST /v1/proxies/{id}/report).</summary>
/// <param name="Kind"><c>sidecar</c> or <c>gateway</c>.</param>
/// <param name="Name">The service (sidecar) or gateway name.</param>
/// <param name="AppliedVersion">The snapshot version it serves (0 if none).</param>
/// <param name="RefusedVersion">The last snapshot version it refused, if any.</param>
/// <param name="Refusal">Why it refused it.</param>
public sealed record ProxyReport(string Kind, string Name, long AppliedVersion, long? RefusedVersion, string? Refusal)
{
    /// <summary>
    /// The proxy's admin listener (<c>/stats</c>, <c>/tap</c>, <c>/metrics</c>), e.g. <c>http://127.0.0.1:5303</c>: on
    /// loopback, so the control plane takes it only from a proxy on its own machine.
    /// </summary>
    public string? AdminAddress { get; init; }

    /// <summary>
    /// The proxy's telemetry listener, reachable from other machines (e.g. <c>https://10.1.2.3:15020</c>): the control plane
    /// reads <c>/stats</c> and <c>/tap</c> there over mTLS, presenting <see cref="Security.SpiffeId.ControlPlane"/> and
    /// checking the proxy's own identity. A proxy that has one reports no <see cref="AdminAddress"/>.
    /// </summary>
    public string? TelemetryAddress { get; init; }

    /// <summary>The proxy's SPIFFE ID, when it holds a mesh certificate.</summary>
    public string? SpiffeId { get; init; }

    /// <summary>When its current certificate expires.</summary>
    public DateTimeOffset? CertificateNotAfter { get; init; }

    /// <summary>The proxy's build (<see cref="MeshBuild.Version"/>).</summary>
    public string? ProxyVersion { get; init; }

    /// <summary>
    /// Fields of the applied snapshot this proxy does not know and ignored (paths without array indexes, as
    /// <c>routes[].mirrorPercent</c>; at most <see cref="MaxIgnoredFields"/>): the control plane is newer than the proxy.
    /// </summary>
    public IReadOnlyList<string>? IgnoredFields { get; init; }

    /// <summary>How many ignored fields a report names at most.</summary>
    public const int MaxIgnoredFields = 20;
}

/// <summary>GET /v1/proxies.</summary>
public sealed record ProxyList(long CurrentVersion, long ConfigVersion, IReadOnlyList<ProxyInfo> Proxies)
{
    /// <summary>The control plane's build (<see cref="MeshBuild.Version"/>), to compare with each proxy's.</summary>
    public string? ControlPlaneVersion { get; init; }
}

/// <summary>One proxy as the control plane last heard of it.</summary>
/// <param name="UpToDate">Whether it serves the control plane's current snapshot version.</param>
public sealed record ProxyInfo(string Id, string Kind, string Name, long AppliedVersion, bool UpToDate, DateTimeOffset LastSeen,
    long? RefusedVersion, string? LastRefusal, bool Watching)
{
    /// <summary>The proxy's admin listener, when it has reported one (and is on the control plane's machine).</summary>
    public string? AdminAddress { get; init; }

    /// <summary>The proxy's telemetry listener (mTLS), when it has one: where the control plane reads its stats and tap.</summary>
    public string? TelemetryAddress { get; init; }

    /// <summary>The proxy's SPIFFE ID, when it holds a mesh certificate.</summary>
    public string? SpiffeId { get; init; }

    /// <summary>When its current certificate expires (renewed at about half of its life).</summary>
    public DateTimeOffset? CertificateNotAfter { get; init; }

    /// <summary>The proxy's build, when it has reported one.</summary>
    public string? ProxyVersion { get; init; }

    /// <summary>Fields of its snapshot the proxy did not know and ignored; empty when none.</summary>
    public IReadOnlyList<string> IgnoredFields { get; init; } = [];
}

/// <summary>
/// GET /stats on a proxy's admin listener: every request series, cumulative since the proxy started, so that rates and
/// percentiles over any window are the difference of two snapshots.
/// </summary>
/// <param name="Buckets">Upper bounds (seconds) of the latency histogram buckets; <see cref="StatsSeries.Buckets"/> counts per bucket (not cumulative); requests slower than the last bound are the count minus their sum.</param>
public sealed record ProxyStats(string ProxyId, DateTimeOffset At, IReadOnlyList<double> Buckets, IReadOnlyList<StatsSeries> Series,
    IReadOnlyList<RetryStats> Retries, IReadOnlyList<EjectionStats> Ejections, long DownstreamConnections, long UpstreamConnections)
{
    /// <summary>
    /// When the proxy started counting (its process start). A reader of two snapshots tells a restarted proxy (counts
    /// from zero again) and one that started between them (everything it counted is new) from one it missed a
    /// snapshot of (no baseline: its whole history is not new).
    /// </summary>
    public DateTimeOffset? StartedAt { get; init; }
}

/// <summary>Requests of one direction, source, destination, route, status class and mesh error.</summary>
public sealed record StatsSeries(string Direction, string Source, string Destination, string Route, string Code, string MeshError,
    long Count, IReadOnlyList<long> Buckets, double SumSeconds, long RequestBytes, long ResponseBytes);

/// <summary>Retries by reason.</summary>
public sealed record RetryStats(string Direction, string Source, string Destination, string Reason, long Count);

/// <summary>Ejections of one endpoint.</summary>
public sealed record EjectionStats(string Destination, string Endpoint, long Count);

/// <summary>One request seen by a proxy, as streamed by <c>/tap</c> (a proxy's) and <c>/v1/tap</c> (the control plane's, merged).</summary>
public sealed record TapEvent(DateTimeOffset At, string Proxy, string Direction, string Method, string Authority, string Path, int Status,
    double LatencyMs, string Source, string Destination, string Endpoint, string Route, string MeshError, string TraceId);

/// <summary>GET /v1/stats: golden metrics over a recent window, computed from the proxies' stats.</summary>
/// <param name="WindowSeconds">The window the rates and percentiles cover.</param>
public sealed record MeshStats(DateTimeOffset At, double WindowSeconds, IReadOnlyList<GoldenMetrics> Services, IReadOnlyList<GoldenMetrics> Edges,
    IReadOnlyList<GoldenMetrics> Routes, IReadOnlyList<StatsPoint> History);

/// <summary>Golden metrics of a service (requests it received), an edge (source -> destination, as the caller saw it) or a route.</summary>
/// <param name="Name">The service, <c>source -> destination</c>, or the route name.</param>
/// <param name="SuccessRate">Share of answers that were not 5xx nor a mesh error, 0-1; null without requests.</param>
public sealed record GoldenMetrics(string Name, string Source, string Destination, double RequestsPerSecond, double? SuccessRate,
    double? P50Ms, double? P95Ms, double? P99Ms, long Requests, double Retries);

/// <summary>One point of a service's short history (for charts).</summary>
public sealed record StatsPoint(DateTimeOffset At, string Service, double RequestsPerSecond, double? SuccessRate, double? P99Ms);
