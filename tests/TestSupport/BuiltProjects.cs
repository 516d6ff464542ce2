using System.Reflection;

namespace AspireMesh.TestSupport;

/// <summary>
/// The built assemblies of the projects a test project references with EmitProjectPath="true"
/// (see build/ProjectPaths.targets), so tests can start them as real processes.
/// </summary>
public static class BuiltProjects
{
    /// <summary>The assembly built from the project file named <paramref name="projectFileName"/> (e.g. ControlPlane.csproj).</summary>
    public static string Assembly(Assembly testAssembly, string projectFileName)
    {
        ArgumentNullException.ThrowIfNull(testAssembly);
        foreach (var attribute in testAssembly.GetCustomAttributes<AssemblyMetadataAttribute>())
        {
            if (attribute.Key == "AspireMesh.Project" && attribute.Value?.Split('|') is [var project, var assembly]
                && string.Equals(Path.GetFileName(project), projectFileName, StringComparison.OrdinalIgnoreCase))
            {
                return File.Exists(assembly) ? assembly : throw new FileNotFoundException($"{projectFileName} is referenced but its assembly {assembly} was not built.");
            }
        }

        throw new InvalidOperationException($"{testAssembly.GetName().Name} does not reference {projectFileName} with EmitProjectPath=\"true\".");
    }

    /// <summary>The repository root (the directory holding AspireMesh.sln).</summary>
    public static string RepositoryRoot(Assembly testAssembly)
    {
        ArgumentNullException.ThrowIfNull(testAssembly);
        var directory = testAssembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "AspireMesh.ProjectDirectory")?.Value
            ?? AppContext.BaseDirectory;
        for (var dir = new DirectoryInfo(directory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AspireMesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No AspireMesh.sln above {directory}.");
    }
}
