namespace AspireMesh.Contracts.Admin;

/// <summary>
/// PUT /v1/resources: every process the AppHost runs, as it is now. Each snapshot replaces the previous one whole
/// (a resource no longer listed is forgotten, with its console output).
/// </summary>
public sealed record ResourceSnapshot(IReadOnlyList<ResourceStatus> Resources);

/// <summary>GET /v1/resources: the last snapshot the AppHost published, and when (null before the first).</summary>
public sealed record ResourceList(DateTimeOffset? PublishedAt, IReadOnlyList<ResourceStatus> Resources);

/// <summary>One process the AppHost runs.</summary>
/// <param name="Name">Resource name, e.g. <c>catalog-2-proxy</c>.</param>
/// <param name="Kind">One of <see cref="ResourceKinds"/>.</param>
/// <param name="State">One of <see cref="ResourceStates"/>.</param>
/// <param name="Restarts">How often the AppHost restarted it after it exited on its own.</param>
/// <param name="Pid">The current process id, while one runs.</param>
/// <param name="Urls">Where it serves (app URL, proxy admin, public port).</param>
/// <param name="ExitCode">How its last run ended, once one has.</param>
/// <param name="StartedAt">When the current (or last) run started.</param>
public sealed record ResourceStatus(string Name, string Kind, string State, int Restarts, int? Pid, IReadOnlyList<string> Urls, int? ExitCode, DateTimeOffset? StartedAt);

/// <summary>POST /v1/resources/logs: console lines of any of the published resources, oldest first.</summary>
public sealed record ResourceLogBatch(IReadOnlyList<ResourceLogLine> Lines);

/// <summary>One console line a resource printed.</summary>
/// <param name="Resource">The resource that printed it.</param>
/// <param name="IsError">Whether it came on standard error.</param>
public sealed record ResourceLogLine(string Resource, DateTimeOffset At, string Text, bool IsError);

/// <summary>GET /v1/resources/{name}/logs: the last console lines of one resource, oldest first.</summary>
public sealed record ResourceLogs(string Resource, IReadOnlyList<ResourceLogLine> Lines);

/// <summary>Well-known values of <see cref="ResourceStatus.Kind"/>.</summary>
public static class ResourceKinds
{
    /// <summary>A service's application (an <c>AddProject</c> instance).</summary>
    public const string Project = "project";

    /// <summary>The sidecar proxy beside an instance.</summary>
    public const string Sidecar = "sidecar";

    /// <summary>The control plane.</summary>
    public const string ControlPlane = "controlplane";

    /// <summary>An ingress gateway.</summary>
    public const string Gateway = "gateway";

    /// <summary>Every known kind.</summary>
    public static IReadOnlyList<string> All { get; } = [Project, Sidecar, ControlPlane, Gateway];
}

/// <summary>Well-known values of <see cref="ResourceStatus.State"/>.</summary>
public static class ResourceStates
{
    /// <summary>Its process is being started.</summary>
    public const string Starting = "Starting";

    /// <summary>Its process runs.</summary>
    public const string Running = "Running";

    /// <summary>It exited on its own and waits for its restart (backoff).</summary>
    public const string Restarting = "Restarting";

    /// <summary>Its process could not be started (it will be tried again).</summary>
    public const string FailedToStart = "FailedToStart";

    /// <summary>It is being stopped on request.</summary>
    public const string Stopping = "Stopping";

    /// <summary>It was stopped on request.</summary>
    public const string Exited = "Exited";

    /// <summary>Every known state.</summary>
    public static IReadOnlyList<string> All { get; } = [Starting, Running, Restarting, FailedToStart, Stopping, Exited];
}
