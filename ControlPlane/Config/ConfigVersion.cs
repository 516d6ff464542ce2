using AspireMesh.Contracts.Config;

namespace AspireMesh.ControlPlane.Config;

/// <summary>One accepted configuration.</summary>
/// <param name="Version">Monotonic across restarts.</param>
/// <param name="Source">Where it came from: <c>file:&lt;path&gt;</c>, <c>api</c>, <c>rollback to N</c>.</param>
internal sealed record ConfigVersion(long Version, DateTimeOffset AcceptedAt, string Source, MeshConfig Config);

/// <summary>The persisted history, newest last.</summary>
internal sealed record ConfigHistory(IReadOnlyList<ConfigVersion> Versions);
