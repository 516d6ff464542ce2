using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine;

/// <summary>All proxy-engine log messages, with their event ids in one place.</summary>
internal static partial class ProxyEngineLog
{
    [LoggerMessage(2001, LogLevel.Information, "Applied first snapshot, version {Version}: {Routes} routes, {Clusters} clusters, {Endpoints} endpoints")]
    public static partial void FirstSnapshotApplied(ILogger logger, long version, int routes, int clusters, int endpoints);

    [LoggerMessage(2009, LogLevel.Information, "Holding requests to the {Listener} listener until the first snapshot from the control plane is applied (each for at most {Seconds} s)")]
    public static partial void HoldingUntilFirstSnapshot(ILogger logger, string listener, double seconds);

    [LoggerMessage(2011, LogLevel.Warning, "No snapshot from the control plane after holding {Method} {Path} on the {Listener} listener for {Seconds} s: answered 503 not-configured")]
    public static partial void NotConfigured(ILogger logger, string method, string path, string listener, double seconds);

    [LoggerMessage(2005, LogLevel.Debug, "Applied snapshot version {Version}: {Routes} routes, {Clusters} clusters, {Endpoints} endpoints")]
    public static partial void SnapshotApplied(ILogger logger, long version, int routes, int clusters, int endpoints);

    [LoggerMessage(2002, LogLevel.Error, "Refused snapshot version {Version}; still serving version {Current}: {Reasons}")]
    public static partial void SnapshotRefused(ILogger logger, long version, long current, string reasons);

    [LoggerMessage(2003, LogLevel.Warning, "Cannot watch the control plane at {ControlPlane} ({Reason}); serving the last snapshot (version {Version}) and retrying")]
    public static partial void WatchFailed(ILogger logger, string controlPlane, string reason, long version);

    [LoggerMessage(2004, LogLevel.Information, "Watching the control plane at {ControlPlane} again")]
    public static partial void WatchResumed(ILogger logger, string controlPlane);

    [LoggerMessage(2010, LogLevel.Information, "Retrying {Method} {Path} on another endpoint of {Cluster}: {Destination} failed ({Reason})")]
    public static partial void Retrying(ILogger logger, string method, string path, string cluster, string destination, string reason);

    [LoggerMessage(2006, LogLevel.Warning, "Could not save the applied snapshot to {Path}: {Reason}")]
    public static partial void SnapshotNotSaved(ILogger logger, string path, string reason);

    [LoggerMessage(2007, LogLevel.Information, "Serving snapshot version {Version} saved in {Path} until the control plane answers")]
    public static partial void SnapshotRestored(ILogger logger, long version, string path);

    [LoggerMessage(2008, LogLevel.Warning, "Ignoring the saved snapshot {Path}: {Reason}")]
    public static partial void SnapshotNotRestored(ILogger logger, string path, string reason);

    [LoggerMessage(2042, LogLevel.Warning, "Snapshot version {Version} has {Count} fields this proxy ({ProxyVersion}) does not know; applied without them: {Fields}. The control plane is newer than this proxy: upgrade the proxy to use them")]
    public static partial void SnapshotFieldsIgnored(ILogger logger, long version, string proxyVersion, int count, string fields);

    [LoggerMessage(2020, LogLevel.Warning, "Ejected endpoint {Destination} of {Cluster} after {Failures} failures in a row, for {Seconds} s")]
    public static partial void Ejected(ILogger logger, string destination, string cluster, double failures, double seconds);

    [LoggerMessage(2021, LogLevel.Debug, "Mirrored request to {Mirror} failed: {Reason}")]
    public static partial void MirrorFailed(ILogger logger, string mirror, string reason);

    [LoggerMessage(2022, LogLevel.Warning, "Mirror {Mirror} is at its limit of {Capacity} copies in flight (its connection limits, or the default for mirrors): {Count} dropped since the last report")]
    public static partial void MirrorCopiesDropped(ILogger logger, string mirror, int capacity, long count);

    [LoggerMessage(2030, LogLevel.Debug, "Denied {Method} {Path} from {Source} [{Principal}] to {Destination}: authorization policy {Policy}")]
    public static partial void AuthorizationDenied(ILogger logger, string method, string path, string source, string principal, string destination, string policy);

    [LoggerMessage(2031, LogLevel.Information, "Audit: authorization policy {Policy} would deny {Method} {Path} from {Source} [{Principal}] to {Destination}; let through")]
    public static partial void AuthorizationAuditDenied(ILogger logger, string method, string path, string source, string principal, string destination, string policy);

    [LoggerMessage(2040, LogLevel.Debug, "Egress {Method} {Host}{Path} allowed by policy {Policy}: forwarding to {Destination}")]
    public static partial void EgressForwarding(ILogger logger, string method, string host, string path, string policy, string destination);

    [LoggerMessage(2041, LogLevel.Warning, "Refused egress {Method} {Host}{Path}: {Reason}")]
    public static partial void EgressRefused(ILogger logger, string method, string host, string path, string reason);

    [LoggerMessage(2100, LogLevel.Information, "access {Direction} {Method} {Host}{Path} {Protocol} {Status} {DurationMs:0.0}ms source={Source} destination={Destination} endpoint={Endpoint} route={Route} mesh_error={MeshError} trace={TraceId}")]
    public static partial void Access(ILogger logger, string direction, string method, string host, string path, string protocol, int status, double durationMs,
        string source, string destination, string endpoint, string route, string meshError, string traceId);

    [LoggerMessage(2200, LogLevel.Information, "Workload certificate {SpiffeId} (serial {Serial}) valid until {NotAfter:u}; renewal at {RenewAt:u} ({How})")]
    public static partial void CertificateLoaded(ILogger logger, string spiffeId, string serial, DateTimeOffset notAfter, DateTimeOffset renewAt, string how);

    [LoggerMessage(2201, LogLevel.Warning, "Could not get a workload certificate (attempt {Attempt}, next in {DelaySeconds} s): {Reason}")]
    public static partial void CertificateRequestFailed(ILogger logger, int attempt, double delaySeconds, string reason);

    [LoggerMessage(2210, LogLevel.Information, "Stopped ({Signal}) before a workload certificate was obtained")]
    public static partial void StoppedBeforeIdentity(ILogger logger, string signal);

    [LoggerMessage(2202, LogLevel.Warning, "Refused a {Direction} TLS peer: {Reason}")]
    public static partial void PeerRefused(ILogger logger, string direction, string reason);

    [LoggerMessage(2203, LogLevel.Information, "Trust bundle updated: {Count} root(s)")]
    public static partial void TrustBundleUpdated(ILogger logger, int count);

    [LoggerMessage(2205, LogLevel.Warning, "The control plane {Address} is reached over plain HTTP from another machine: this proxy's bootstrap credential, registration token and snapshots can be read on the way. Serve it over HTTPS (an https:// address in its --urls) and give this proxy its root in ASPIREMESH_CONTROL_PLANE_CA")]
    public static partial void ControlPlaneInTheClear(ILogger logger, Uri address);

    [LoggerMessage(2207, LogLevel.Information, "Fetched {Count} signing keys from {JwksUri}")]
    public static partial void JwksFetched(ILogger logger, int count, Uri jwksUri);

    [LoggerMessage(2208, LogLevel.Warning, "Cannot fetch signing keys from {JwksUri}: {Reason}")]
    public static partial void JwksFetchFailed(ILogger logger, Uri jwksUri, string reason);

    [LoggerMessage(2209, LogLevel.Debug, "Refused {Method} {Path} to service {Service}: {Reason}")]
    public static partial void InboundUnauthenticated(ILogger logger, string method, string path, string service, string reason);

    [LoggerMessage(2206, LogLevel.Information, "Telemetry listener at {Address}: /metrics, /ready and /live for anyone (Prometheus, probes); /stats and /tap for the control plane over mTLS")]
    public static partial void TelemetryListening(ILogger logger, string address);

    [LoggerMessage(2204, LogLevel.Warning, "The control plane refused this proxy's registration token ({Status}); renewing the certificate for a new one")]
    public static partial void RegistrationTokenRefused(ILogger logger, int status);

    [LoggerMessage(2300, LogLevel.Information,
        "Memory: {Reason} (allocating {RateMb:0.0} MB/s, peak {PeakMb:0.0} MB/s); returned {ReturnedMb:0.0} MB to the system (resident {RssBeforeMb:0.0} -> {RssAfterMb:0.0} MB, GC committed {BeforeMb:0.0} -> {AfterMb:0.0} MB, paused {PauseMs:0.0} ms, after emptying {PooledMb:0.0} MB of pooled buffers); let go of {CodeMb:0.0} MB of mapped code pages")]
    public static partial void MemoryReclaimed(ILogger logger, string reason, double rateMb, double peakMb, double returnedMb, double rssBeforeMb, double rssAfterMb, double beforeMb, double afterMb,
        double pauseMs, double pooledMb, double codeMb);

    [LoggerMessage(2301, LogLevel.Information, "Memory: let go of {CodeMb:0.0} MB of mapped code pages after start-up (resident {RssBeforeMb:0.0} -> {RssAfterMb:0.0} MB)")]
    public static partial void ReleasedStartUpCode(ILogger logger, double codeMb, double rssBeforeMb, double rssAfterMb);

    [LoggerMessage(2400, LogLevel.Warning, "The proxy's epoll loops could not start ({Reason}); {Endpoint} runs on .NET's socket engine, as do connections to upstreams")]
    public static partial void EpollLoopsUnavailable(ILogger logger, string reason, string endpoint);

    [LoggerMessage(2401, LogLevel.Error, "A connection's code failed on {Loop}, which goes on serving its other connections")]
    public static partial void EpollLoopFault(ILogger logger, Exception exception, string loop);
}
