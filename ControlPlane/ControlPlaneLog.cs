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

    [LoggerMessage(1004, LogLevel.Information, "Instance {InstanceId} is now {Health}")]
    public static partial void InstanceHealthChangedCore(ILogger logger, string instanceId, string health);

    public static void InstanceHealthChanged(ILogger logger, string instanceId, bool healthy) =>
        InstanceHealthChangedCore(logger, instanceId, healthy ? "healthy" : "unhealthy");

    [LoggerMessage(1010, LogLevel.Information, "Accepted config version {Version} from {Source}: {Services} services, {Routes} routes")]
    public static partial void ConfigAccepted(ILogger logger, long version, string source, int services, int routes);

    [LoggerMessage(1011, LogLevel.Information, "Serving config version {Version} restored from {Path}")]
    public static partial void ConfigRestored(ILogger logger, long version, string path);

    [LoggerMessage(1012, LogLevel.Warning, "Refused config from {Source}: {Errors}")]
    public static partial void ConfigRefused(ILogger logger, string source, string errors);

    [LoggerMessage(1020, LogLevel.Warning, "Proxy {ProxyId} ({Kind} {Name}) refused snapshot version {Version}: {Reason}")]
    public static partial void SnapshotRefused(ILogger logger, string proxyId, string kind, string name, long version, string reason);

    [LoggerMessage(1030, LogLevel.Debug, "No request statistics from proxy {ProxyId}: {Reason}")]
    public static partial void StatsUnavailable(ILogger logger, string proxyId, string reason);

    [LoggerMessage(1031, LogLevel.Debug, "Tap of proxy {ProxyId} ended: {Reason}")]
    public static partial void TapEnded(ILogger logger, string proxyId, string reason);
}
