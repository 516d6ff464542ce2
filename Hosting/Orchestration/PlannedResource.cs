using AspireMesh.Hosting.Processes;

namespace AspireMesh.Hosting.Orchestration;

/// <summary>The kinds of process the AppHost runs.</summary>
internal enum ResourceKind
{
    ControlPlane,
    App,
    Sidecar,
    Gateway,
}

/// <summary>One process the AppHost will run, and the URL that answers 200 once it is ready.</summary>
/// <param name="AdminUrl">For proxies: the admin listener, whose /ready reports the applied snapshot version.</param>
internal sealed record PlannedResource(string Name, ResourceKind Kind, ProcessSpec Spec, Uri ReadyUrl, Uri? AdminUrl = null)
{
    /// <summary>Where it serves (shown on the dashboard): the app's URL, a proxy's listeners, the public port.</summary>
    public IReadOnlyList<Uri> Urls { get; init; } = [];
}
