namespace AspireMesh.Contracts.Config;

/// <summary>
/// The mesh configuration: services, HTTP routes and policies. Routes are shaped after Kubernetes Gateway API's
/// HTTPRoute so that they map 1:1 to its resources. Accepted as JSON or YAML (camelCase keys); unknown keys are refused.
/// See docs/config.md.
/// </summary>
public sealed record MeshConfig
{
    /// <summary>Declared services. Instances register against these names.</summary>
    public IReadOnlyList<ServiceConfig> Services { get; set; } = [];

    /// <summary>HTTP routes, attached to gateways or to services.</summary>
    public IReadOnlyList<HttpRouteConfig> Routes { get; set; } = [];

    /// <summary>Backend, rate-limit, authorization and egress policies.</summary>
    public PoliciesConfig Policies { get; set; } = new();
}

/// <summary>A declared service.</summary>
public sealed record ServiceConfig
{
    /// <summary>DNS-label name, e.g. <c>catalog</c>; apps call it as <c>http://catalog/</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Names of the services this one calls; its sidecar receives routes and endpoints for these only.</summary>
    public IReadOnlyList<string> References { get; set; } = [];
}
