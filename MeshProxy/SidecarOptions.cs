using System.Net;

namespace AspireMesh.MeshProxy;

/// <summary>Settings of one sidecar, from its command line.</summary>
public sealed record SidecarOptions
{
    /// <summary>The service the instance belongs to.</summary>
    public required string Service { get; init; }

    /// <summary>Unique id of the instance (and of this sidecar).</summary>
    public required string InstanceId { get; init; }

    /// <summary>Where the application listens, e.g. <c>http://127.0.0.1:5300</c>.</summary>
    public required Uri AppUrl { get; init; }

    /// <summary>Path of the application's health endpoint; empty means "any answer is healthy".</summary>
    public string AppHealthPath { get; init; } = "/health";

    /// <summary>The default of <see cref="AppHealthTimeout"/>.</summary>
    public static readonly TimeSpan DefaultAppHealthTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long the application has to answer a health probe before the probe counts as failed.</summary>
    public TimeSpan AppHealthTimeout { get; init; } = DefaultAppHealthTimeout;

    /// <summary>Port of the inbound listener (peers and gateways call it); 0 picks a free one.</summary>
    public int InboundPort { get; init; }

    /// <summary>
    /// The address the inbound listeners bind (127.0.0.1 by default; 0.0.0.0 in a pod, where peers are other pods).
    /// The outbound and admin listeners always bind loopback: only the app and this machine use them.
    /// </summary>
    public IPAddress InboundAddress { get; init; } = IPAddress.Loopback;

    /// <summary>The host put in the address this instance registers (peers call it there); null: the bound inbound address.</summary>
    public string? AdvertiseHost { get; init; }

    /// <summary>Port of the outbound listener (the app's HTTP_PROXY); 0 picks a free one.</summary>
    public int OutboundPort { get; init; }

    /// <summary>Port of the inbound listener for HTTP/2 with prior knowledge (peers' sidecars and gateways use it); 0 picks a free one.</summary>
    public int InboundHttp2Port { get; init; }

    /// <summary>Port of the outbound listener for HTTP/2 with prior knowledge (CONNECT tunnels are joined to it); 0 picks a free one.</summary>
    public int OutboundHttp2Port { get; init; }

    /// <summary>The protocol the application speaks: <see cref="AppProtocols.Http"/> or <see cref="AppProtocols.H2c"/> (gRPC servers).</summary>
    public string AppProtocol { get; init; } = AppProtocols.Http;

    /// <summary>Port of the admin listener (/ready, /live); 0 picks a free one.</summary>
    public int AdminPort { get; init; }

    /// <summary>
    /// Port of the telemetry listener (<see cref="ProxyEngine.Admin.TelemetryListener"/>) on <see cref="InboundAddress"/>;
    /// null: none (the control plane reads the admin listener, on its own machine); 0 picks a free one.
    /// </summary>
    public int? TelemetryPort { get; init; }

    /// <summary>Where the last applied snapshot is kept.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Base URL of the control plane.</summary>
    public required Uri ControlPlane { get; init; }

    /// <summary>Whether requests are measured (metrics, tap, access log, traces); off only to measure what that costs.</summary>
    public bool Telemetry { get; init; } = true;

    /// <summary>
    /// Whether peers call this instance with mTLS (the default). Off: the inbound port takes plaintext only, serves every
    /// caller whatever the service's mode, and the instance registers without an identity, so callers use plaintext.
    /// </summary>
    public bool InboundMtls { get; init; } = true;

    /// <summary>Seconds between the memory reclaimer's looks at load and memory (<see cref="ProxyEngine.Hosting.MemoryReclaimer"/>); 0: off.</summary>
    public int MemoryReclaimSeconds { get; init; } = ProxyEngine.Hosting.CommandLineOptions.DefaultMemoryReclaimSeconds;

    /// <summary>
    /// The CPU time slice the sidecar's threads ask Linux's scheduler for, in microseconds (<see cref="Hosting.Processes.CpuSlice"/>);
    /// 0: the kernel's default.
    /// </summary>
    public int CpuSliceMicroseconds { get; init; } = Hosting.Processes.CpuSlice.DefaultMicroseconds;

    /// <summary>Whether to write an access log line per request from the start.</summary>
    public bool AccessLog { get; init; }

    /// <summary>The credential for the first workload certificate (<c>ASPIREMESH_BOOTSTRAP_TOKEN</c>); null when one is kept already.</summary>
    public string? BootstrapCredential { get; init; }

    /// <summary>A command to start as the application (everything after <c>--</c>), or empty when the app runs on its own.</summary>
    public IReadOnlyList<string> AppCommand { get; init; } = [];
}

/// <summary>Protocols an application behind a sidecar can speak.</summary>
public static class AppProtocols
{
    /// <summary>HTTP/1.1 (HTTP/2 requests from peers are forwarded to it as HTTP/1.1).</summary>
    public const string Http = "http";

    /// <summary>HTTP/2 with prior knowledge, without TLS: gRPC servers and other HTTP/2-only apps.</summary>
    public const string H2c = "h2c";
}
