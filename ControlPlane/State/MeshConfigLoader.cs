using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;

namespace AspireMesh.ControlPlane.State;

/// <summary>Reads and validates a mesh config file; every problem is reported with the file and the path inside it.</summary>
internal static class MeshConfigLoader
{
    public static MeshConfig Load(string path)
    {
        MeshConfig? config;
        try
        {
            using var stream = File.OpenRead(path);
            config = JsonSerializer.Deserialize(stream, MeshJsonContext.Default.MeshConfig);
        }
        catch (JsonException ex)
        {
            throw new MeshConfigException(path, [new ConfigError(ex.Path ?? "$", $"{ex.Message}")]);
        }
        catch (IOException ex)
        {
            throw new MeshConfigException(path, [new ConfigError("$", $"cannot read the file: {ex.Message}")]);
        }

        if (config is null)
        {
            throw new MeshConfigException(path, [new ConfigError("$", "the document is empty (null).")]);
        }

        var errors = MeshConfigValidator.Validate(config);
        return errors.Count > 0 ? throw new MeshConfigException(path, errors) : config;
    }
}

/// <summary>A mesh config was refused; <see cref="Errors"/> lists every reason.</summary>
internal sealed class MeshConfigException(string source, IReadOnlyList<ConfigError> errors)
    : Exception($"Mesh config {source} is invalid:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", errors)}")
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}
