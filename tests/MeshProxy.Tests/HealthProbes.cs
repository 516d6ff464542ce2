using AspireMesh.Contracts.Config;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>Active health checks the mesh's proxies run against a service in tests.</summary>
internal static class HealthProbes
{
    /// <summary>
    /// Probes of <paramref name="path"/> every second. A path other than the sidecar's own app check (<c>/health</c>)
    /// tells the mesh's probes apart from that check in the app's request log.
    /// </summary>
    public static BackendPolicy Every1s(string service, string path = "/ready") => new()
    {
        Name = $"{service}-health",
        TargetRef = new() { Name = service },
        HealthCheck = new() { Path = path, Interval = "1s", Timeout = "1s", UnhealthyThreshold = 1 },
    };
}
