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

    /// <summary>Port of the inbound listener (peers and gateways call it); 0 picks a free one.</summary>
    public int InboundPort { get; init; }

    /// <summary>Port of the outbound listener (the app's HTTP_PROXY); 0 picks a free one.</summary>
    public int OutboundPort { get; init; }

    /// <summary>Port of the admin listener (/ready, /live); 0 picks a free one.</summary>
    public int AdminPort { get; init; }

    /// <summary>Where the last applied snapshot is kept.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Base URL of the control plane.</summary>
    public required Uri ControlPlane { get; init; }

    /// <summary>Whether to write an access log line per request from the start.</summary>
    public bool AccessLog { get; init; }

    /// <summary>A command to start as the application (everything after <c>--</c>), or empty when the app runs on its own.</summary>
    public IReadOnlyList<string> AppCommand { get; init; } = [];
}
