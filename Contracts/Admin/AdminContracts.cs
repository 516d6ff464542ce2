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
public sealed record ProxyReport(string Kind, string Name, long AppliedVersion, long? RefusedVersion, string? Refusal);

/// <summary>GET /v1/proxies.</summary>
public sealed record ProxyList(long CurrentVersion, long ConfigVersion, IReadOnlyList<ProxyInfo> Proxies);

/// <summary>One proxy as the control plane last heard of it.</summary>
/// <param name="UpToDate">Whether it serves the control plane's current snapshot version.</param>
public sealed record ProxyInfo(string Id, string Kind, string Name, long AppliedVersion, bool UpToDate, DateTimeOffset LastSeen,
    long? RefusedVersion, string? LastRefusal, bool Watching);
