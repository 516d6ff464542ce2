using System.Collections.Frozen;

namespace AspireMesh.Hosting.Model;

/// <summary>
/// The runtime settings every sidecar process is started with, wherever it runs: by the AppHost, in the published
/// Kubernetes and Aspire manifests, in the benchmark, and from the container image (MeshProxy.csproj's
/// <c>ContainerEnvironmentVariable</c> items, which a test keeps equal to these). They are environment variables
/// because the JIT-compiled runtime reads them from nowhere else (its runtimeconfig.json does not take them).
/// </summary>
public static class SidecarRuntime
{
    /// <summary>
    /// <c>DOTNET_GCgen0size</c>: a 2 MB gen0 budget (the value is hexadecimal) instead of one sized from the CPU's
    /// cache. A proxied request leaves almost nothing alive, so a small gen0 is collected often and cheaply, and the
    /// heap stays small: at 1000 requests/s the JIT-compiled sidecar held about 12 MB less with 4 MB than with the
    /// default, and its p99.9 latency was lower (docs/benchmarks.md, "eighth round"); 2 MB took another 2-4 MB off the
    /// Native AOT sidecar ("sixteenth round"). The GC raises the budget while more of gen0 survives, as under a burst.
    /// The Native AOT sidecar has the same budget built in; it also honours
    /// this variable, which overrides the built-in value (both runtimes read it as hexadecimal, with or without
    /// <c>0x</c> for CoreCLR, without for Native AOT).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["DOTNET_GCgen0size"] = "200000",
    }.ToFrozenDictionary(StringComparer.Ordinal);
}
