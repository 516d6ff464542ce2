using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.State;
using AspireMesh.Contracts.Storage;
using AspireMesh.ControlPlane.Storage;

namespace AspireMesh.ControlPlane.Config;

/// <summary>The outcome of a config write.</summary>
internal enum ConfigWriteStatus
{
    Accepted,
    Unchanged,
    Conflict,
    NotFound,
}

/// <summary>A config write's outcome and the version serving afterwards.</summary>
internal sealed record ConfigWriteOutcome(ConfigWriteStatus Status, ConfigVersion? Current);

/// <summary>
/// Accepted configurations: the current one, the recent history, persisted durably (write, fsync, rename) before a
/// new version is announced, so a crash never loses the last good config. Writes are serialized; a write that names
/// the version it was based on is refused when another write came first.
/// </summary>
internal sealed class ConfigStore(MeshStateStore state, StateDirectory directory, TimeProvider time, ILogger<ConfigStore> logger)
{
    public const int MaxHistory = 50;
    private const string FileName = "config-history.json";
    private readonly Lock _gate = new();
    private List<ConfigVersion> _history = [];

    public ConfigVersion? Current
    {
        get
        {
            lock (_gate)
            {
                return _history.Count == 0 ? null : _history[^1];
            }
        }
    }

    public IReadOnlyList<ConfigVersion> History
    {
        get
        {
            lock (_gate)
            {
                return [.. _history];
            }
        }
    }

    /// <summary>Loads the persisted history and serves its newest version. Throws with the file's path if it cannot be read.</summary>
    public void Load()
    {
        var path = directory.PathOf(FileName);
        if (!File.Exists(path))
        {
            return;
        }

        ConfigHistory? history;
        try
        {
            history = JsonSerializer.Deserialize(File.ReadAllBytes(path), ControlPlaneJsonContext.Default.ConfigHistory);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"The config history {path} is unreadable ({ex.Message}); move it away to start with an empty config.", ex);
        }

        lock (_gate)
        {
            _history = [.. history?.Versions ?? []];
            if (_history.Count > 0)
            {
                state.SetConfig(_history[^1].Config, _history[^1].Version);
                ControlPlaneLog.ConfigRestored(logger, _history[^1].Version, path);
            }
        }
    }

    /// <summary>Accepts a validated config as a new version, unless it equals the current one or <paramref name="expectedVersion"/> is stale.</summary>
    public ConfigWriteOutcome Apply(MeshConfig config, string source, long? expectedVersion)
    {
        lock (_gate)
        {
            var current = _history.Count == 0 ? null : _history[^1];
            if (expectedVersion is { } expected && expected != (current?.Version ?? 0))
            {
                return new ConfigWriteOutcome(ConfigWriteStatus.Conflict, current);
            }

            if (current is not null && Same(current.Config, config))
            {
                return new ConfigWriteOutcome(ConfigWriteStatus.Unchanged, current);
            }

            var accepted = new ConfigVersion((current?.Version ?? 0) + 1, time.GetUtcNow(), source, config);
            var history = _history.Append(accepted).TakeLast(MaxHistory).ToList();
            DurableFile.Write(directory.PathOf(FileName), JsonSerializer.SerializeToUtf8Bytes(new ConfigHistory(history), ControlPlaneJsonContext.Default.ConfigHistory));
            _history = history;
            state.SetConfig(config, accepted.Version);
            ControlPlaneLog.ConfigAccepted(logger, accepted.Version, source, config.Services.Count, config.Routes.Count);
            return new ConfigWriteOutcome(ConfigWriteStatus.Accepted, accepted);
        }
    }

    /// <summary>Serves the config of an earlier <paramref name="version"/> again, as a new version.</summary>
    public ConfigWriteOutcome Rollback(long version, long? expectedVersion)
    {
        var target = History.FirstOrDefault(v => v.Version == version);
        return target is null
            ? new ConfigWriteOutcome(ConfigWriteStatus.NotFound, Current)
            : Apply(target.Config, $"rollback to {version}", expectedVersion);
    }

    private static bool Same(MeshConfig a, MeshConfig b) =>
        JsonSerializer.Serialize(a, MeshJsonContext.Default.MeshConfig) == JsonSerializer.Serialize(b, MeshJsonContext.Default.MeshConfig);
}
