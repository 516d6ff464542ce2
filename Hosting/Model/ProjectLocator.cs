using System.Reflection;

namespace AspireMesh.Hosting.Model;

/// <summary>
/// Finds the built assembly of each project the AppHost references, from the "AspireMesh.Project" metadata that
/// build/ProjectPaths.targets embeds (project path | assembly path).
/// </summary>
public sealed class ProjectLocator
{
    private readonly Dictionary<string, string> _assemblies;
    private readonly Dictionary<string, string> _repositories;

    private ProjectLocator(string? projectDirectory, Dictionary<string, string> assemblies, Dictionary<string, string> repositories)
    {
        ProjectDirectory = projectDirectory;
        _assemblies = assemblies;
        _repositories = repositories;
    }

    /// <summary>The directory of the AppHost project; relative project paths start there.</summary>
    public string? ProjectDirectory { get; }

    /// <summary>Reads the metadata of <paramref name="appHostAssembly"/>.</summary>
    public static ProjectLocator FromAssembly(Assembly appHostAssembly)
    {
        ArgumentNullException.ThrowIfNull(appHostAssembly);
        var assemblies = new Dictionary<string, string>(StringComparer.Ordinal);
        var repositories = new Dictionary<string, string>(StringComparer.Ordinal);
        string? directory = null;
        foreach (var attribute in appHostAssembly.GetCustomAttributes<AssemblyMetadataAttribute>())
        {
            if (attribute.Key == "AspireMesh.ProjectDirectory")
            {
                directory = attribute.Value;
            }
            else if (attribute.Key == "AspireMesh.Project" && attribute.Value?.Split('|') is [var project, var assembly])
            {
                assemblies[Path.GetFullPath(project)] = assembly;
            }
            else if (attribute.Key == "AspireMesh.ContainerRepository" && attribute.Value?.Split('|') is [var containerProject, var repository])
            {
                repositories[Path.GetFullPath(containerProject)] = repository;
            }
        }

        return new ProjectLocator(directory, assemblies, repositories);
    }

    /// <summary>The absolute path of <paramref name="projectPath"/>.</summary>
    public string ResolveProjectPath(string projectPath) =>
        Path.GetFullPath(Path.IsPathRooted(projectPath) ? projectPath : Path.Combine(ProjectDirectory ?? Environment.CurrentDirectory, projectPath));

    /// <summary>The built assembly of the project at <paramref name="fullProjectPath"/>, or null if the AppHost does not reference it.</summary>
    public string? FindAssembly(string fullProjectPath) => _assemblies.GetValueOrDefault(fullProjectPath);

    /// <summary>The built assembly of the AppHost-referenced project whose file is named <paramref name="projectFileName"/>.</summary>
    public string? FindAssemblyByFileName(string projectFileName) =>
        _assemblies.Where(p => string.Equals(Path.GetFileName(p.Key), projectFileName, StringComparison.OrdinalIgnoreCase)).Select(p => p.Value).FirstOrDefault();

    /// <summary>The full path of the AppHost-referenced project whose file is named <paramref name="projectFileName"/>, or null.</summary>
    public string? FindProjectByFileName(string projectFileName) =>
        _assemblies.Keys.FirstOrDefault(p => string.Equals(Path.GetFileName(p), projectFileName, StringComparison.OrdinalIgnoreCase));

    /// <summary>The SDK container repository (<c>ContainerRepository</c>) of the project at <paramref name="fullProjectPath"/>, or null when it sets none.</summary>
    public string? FindContainerRepository(string fullProjectPath) => _repositories.GetValueOrDefault(fullProjectPath);
}
