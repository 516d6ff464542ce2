using System.Reflection;

namespace AspireMesh.Contracts;

/// <summary>Which build of the mesh this process runs: proxies report it, the control plane lists it beside its own.</summary>
public static class MeshBuild
{
    /// <summary>The version, with the commit it was built from when the build knew it, e.g. <c>0.1.0+4f2c9e1</c>.</summary>
    public static string Version { get; } = Read();

    private static string Read()
    {
        var informational = typeof(MeshBuild).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (string.IsNullOrEmpty(informational))
        {
            return typeof(MeshBuild).Assembly.GetName().Version?.ToString(3) ?? "unknown";
        }

        // The SDK appends the full commit hash; seven characters name it as git does.
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus >= 0 && informational.Length - plus - 1 > 7 ? informational[..(plus + 8)] : informational;
    }
}
