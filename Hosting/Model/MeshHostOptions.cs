namespace AspireMesh.Hosting.Model;

/// <summary>
/// Run settings of the AppHost: configuration section <c>AppHost</c> (appsettings.json, environment variables such as
/// <c>AppHost__GatewayPort</c>) overridden by the command line (<c>--gateway-port</c>, <c>--controlplane-port</c>).
/// </summary>
public sealed class MeshHostOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "AppHost";

    /// <summary>Port of the gateway's public listener; 0 picks a free one.</summary>
    public int GatewayPort { get; set; } = 8080;

    /// <summary>Port of the control plane (API, Eureka facade, dashboard); 0 picks a free one. 8761 is Eureka's customary port.</summary>
    public int ControlPlanePort { get; set; } = 8761;

    /// <summary>How long to wait for every resource to become ready before giving up.</summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>How long a stopping resource may take before it is killed.</summary>
    public TimeSpan StopGracePeriod { get; set; } = TimeSpan.FromSeconds(10);
}
