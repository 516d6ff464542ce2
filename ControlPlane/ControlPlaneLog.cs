namespace AspireMesh.ControlPlane;

/// <summary>All control-plane log messages, with their event ids in one place.</summary>
internal static partial class ControlPlaneLog
{
    [LoggerMessage(1001, LogLevel.Information, "Instance {InstanceId} of {Service} registered at {Address} (healthy: {Healthy})")]
    public static partial void InstanceRegistered(ILogger logger, string instanceId, string service, string address, bool healthy);

    [LoggerMessage(1002, LogLevel.Information, "Instance {InstanceId} deregistered")]
    public static partial void InstanceDeregistered(ILogger logger, string instanceId);

    [LoggerMessage(1003, LogLevel.Warning, "Instance {InstanceId} evicted: its lease expired without a heartbeat")]
    public static partial void InstanceEvicted(ILogger logger, string instanceId);

    [LoggerMessage(1055, LogLevel.Warning, "The control plane did not run for {Seconds:0.0} s (paused, suspended or starved of CPU): leases and check deadlines were extended by as much, so that no instance is evicted for the heartbeats it could not take")]
    public static partial void LeasesExtendedAfterPause(ILogger logger, double seconds);

    [LoggerMessage(1004, LogLevel.Information, "Instance {InstanceId} is now {Health}")]
    public static partial void InstanceHealthChangedCore(ILogger logger, string instanceId, string health);

    public static void InstanceHealthChanged(ILogger logger, string instanceId, bool healthy, string? reason)
    {
        InstanceHealthChangedCore(logger, instanceId, healthy ? "healthy" : "unhealthy");
        if (!healthy && reason is not null)
        {
            InstanceUnhealthyBecause(logger, instanceId, reason);
        }
    }

    [LoggerMessage(1005, LogLevel.Information, "Instance {InstanceId} is unhealthy: {Reason}")]
    public static partial void InstanceUnhealthyBecause(ILogger logger, string instanceId, string reason);

    [LoggerMessage(1010, LogLevel.Information, "Accepted config version {Version} from {Source}: {Services} services, {Routes} routes")]
    public static partial void ConfigAccepted(ILogger logger, long version, string source, int services, int routes);

    [LoggerMessage(1048, LogLevel.Error, "The mesh config file {Path} changed but is invalid; config version {Version} keeps serving. Errors:{Errors}")]
    public static partial void ConfigFileInvalid(ILogger logger, string path, long version, string errors);

    [LoggerMessage(1049, LogLevel.Warning, "The mesh config file {Path} cannot be read ({Reason}); config version {Version} keeps serving")]
    public static partial void ConfigFileUnreadable(ILogger logger, string path, string reason, long version);

    [LoggerMessage(1051, LogLevel.Error, "The mesh config file {Path} changed, but its new version cannot be saved ({Reason}); config version {Version} keeps serving, and the file is tried again")]
    public static partial void ConfigFileNotSaved(ILogger logger, string path, string reason, long version);

    [LoggerMessage(1054, LogLevel.Error, "Checking the mesh config file {Path} failed; the last good version keeps serving and the file is checked again")]
    public static partial void ConfigFileCheckFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(1050, LogLevel.Information, "The mesh config file {Path} changed to what version {Version} serves already")]
    public static partial void ConfigFileUnchanged(ILogger logger, string path, long version);

    [LoggerMessage(1011, LogLevel.Information, "Serving config version {Version} restored from {Path}")]
    public static partial void ConfigRestored(ILogger logger, long version, string path);

    [LoggerMessage(1012, LogLevel.Warning, "Refused config from {Source}: {Errors}")]
    public static partial void ConfigRefused(ILogger logger, string source, string errors);

    [LoggerMessage(1013, LogLevel.Warning, "Refused {Method} {Path} from {Remote}: {Reason}")]
    public static partial void RegistrationRefused(ILogger logger, string method, string path, string remote, string reason);

    [LoggerMessage(1020, LogLevel.Warning, "Proxy {ProxyId} ({Kind} {Name}) refused snapshot version {Version}: {Reason}")]
    public static partial void SnapshotRefused(ILogger logger, string proxyId, string kind, string name, long version, string reason);

    [LoggerMessage(1030, LogLevel.Debug, "No request statistics from proxy {ProxyId}: {Reason}")]
    public static partial void StatsUnavailable(ILogger logger, string proxyId, string reason);

    [LoggerMessage(1052, LogLevel.Error, "A round of collecting the proxies' request statistics failed; the next round goes on")]
    public static partial void StatsRoundFailed(ILogger logger, Exception exception);

    [LoggerMessage(1053, LogLevel.Warning, "Proxy {ProxyId} reported {Address} from {From}, which is not read: {Reason}")]
    public static partial void ReportedAddressIgnored(ILogger logger, string proxyId, string address, string from, string reason);

    [LoggerMessage(1031, LogLevel.Debug, "Tap of proxy {ProxyId} ended: {Reason}")]
    public static partial void TapEnded(ILogger logger, string proxyId, string reason);

    [LoggerMessage(1040, LogLevel.Information, "Certificate authority: trust domain {TrustDomain}, issuing root {Thumbprint} (expires {NotAfter:u}), from {Source}")]
    public static partial void CertificateAuthorityReady(ILogger logger, string trustDomain, string thumbprint, DateTimeOffset notAfter, string source);

    [LoggerMessage(1041, LogLevel.Information, "Issued {SpiffeId} to {Instance} ({How}), expires {NotAfter:u}")]
    public static partial void CertificateIssued(ILogger logger, string spiffeId, string instance, string how, DateTimeOffset notAfter);

    [LoggerMessage(1042, LogLevel.Warning, "Refused a certificate for {Kind} {Name} (instance {Instance}) from {Remote}: {Reason}")]
    public static partial void CertificateRefused(ILogger logger, string kind, string name, string instance, string remote, string reason);

    [LoggerMessage(1043, LogLevel.Warning, "Root rotation: new issuing root {Thumbprint}; the previous root {Previous} stays trusted until {RetiresAt:u}")]
    public static partial void RootRotated(ILogger logger, string thumbprint, string previous, DateTimeOffset retiresAt);

    [LoggerMessage(1045, LogLevel.Information, "HTTPS certificate of the control plane issued for {Names} by root {Root}, expires {NotAfter:u}; clients trust it by the mesh's root (GET /v1/ca/bundle.pem, given to them in ASPIREMESH_CONTROL_PLANE_CA)")]
    public static partial void ServerCertificateIssued(ILogger logger, string names, string root, DateTimeOffset notAfter);

    [LoggerMessage(1047, LogLevel.Information, "Client certificate of the control plane issued as {Identity} by root {Root}, expires {NotAfter:u}: it reads proxies' /stats and /tap on their telemetry listeners")]
    public static partial void ClientCertificateIssued(ILogger logger, string identity, string root, DateTimeOffset notAfter);

    [LoggerMessage(1046, LogLevel.Warning, "{What} {Id} ({Kind} '{Name}') revoked: refused from now on")]
    public static partial void CredentialRevoked(ILogger logger, string what, string id, string kind, string name);

    [LoggerMessage(1044, LogLevel.Information, "Root {Thumbprint} retired: it left the trust bundle")]
    public static partial void RootRetired(ILogger logger, string thumbprint);
}
