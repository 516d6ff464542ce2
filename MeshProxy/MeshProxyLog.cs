namespace AspireMesh.MeshProxy;

/// <summary>All sidecar log messages, with their event ids in one place.</summary>
internal static partial class MeshProxyLog
{
    [LoggerMessage(3017, LogLevel.Information, "CPU time slice of the sidecar's threads: {Milliseconds} ms ({Threads} threads; --cpu-slice 0 keeps the kernel's default)")]
    public static partial void CpuSliceSet(ILogger logger, double milliseconds, int threads);

    [LoggerMessage(3018, LogLevel.Information, "CPU time slice of the sidecar's threads: the kernel's default ({Reason})")]
    public static partial void CpuSliceKept(ILogger logger, string reason);

    [LoggerMessage(3001, LogLevel.Information, "Registered instance {InstanceId} of {Service} at {Address}")]
    public static partial void Registered(ILogger logger, string instanceId, string service, string address);

    [LoggerMessage(3002, LogLevel.Warning, "Cannot register with the control plane at {ControlPlane} ({Reason}); retrying")]
    public static partial void RegistrationFailed(ILogger logger, string controlPlane, string reason);

    [LoggerMessage(3003, LogLevel.Warning, "Could not deregister {InstanceId} ({Reason}); its lease will expire")]
    public static partial void DeregistrationFailed(ILogger logger, string instanceId, string reason);

    [LoggerMessage(3010, LogLevel.Information, "Sidecar {InstanceId} of {Service} listening: inbound {Inbound}, outbound {Outbound}, admin {Admin}")]
    public static partial void Listening(ILogger logger, string instanceId, string service, string inbound, string outbound, string admin);

    [LoggerMessage(3011, LogLevel.Warning, "The application ({Command}) exited with code {ExitCode}; stopping the sidecar")]
    public static partial void AppExited(ILogger logger, string command, int exitCode);

    [LoggerMessage(3012, LogLevel.Information, "HTTP/2 with prior knowledge (h2c): inbound {Inbound}, outbound {Outbound}; the app speaks {AppProtocol}")]
    public static partial void ListeningHttp2(ILogger logger, string inbound, string outbound, string appProtocol);

    [LoggerMessage(3015, LogLevel.Information, "Holding CONNECT tunnels until the first snapshot from the control plane is applied (each for at most {Seconds} s)")]
    public static partial void HoldingTunnels(ILogger logger, double seconds);

    [LoggerMessage(3016, LogLevel.Warning, "No snapshot from the control plane after holding a CONNECT tunnel to {Authority} for {Seconds} s: answered 503 not-configured")]
    public static partial void TunnelNotConfigured(ILogger logger, string authority, double seconds);

    [LoggerMessage(3013, LogLevel.Warning, "Refused a CONNECT tunnel to {Authority}: no route serves that host and no egress policy allows it (egress-denied)")]
    public static partial void TunnelRefused(ILogger logger, string authority);

    [LoggerMessage(3014, LogLevel.Debug, "Opened a CONNECT tunnel to {Authority} outside the mesh, allowed by egress policy {Policy}")]
    public static partial void EgressTunnel(ILogger logger, string authority, string policy);
}
