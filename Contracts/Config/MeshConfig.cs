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

    /// <summary>
    /// <see cref="MtlsModes.Strict"/> (default: callers must prove their identity with a mesh certificate) or
    /// <see cref="MtlsModes.Permissive"/> (plaintext callers are also taken, while a service migrates into the mesh).
    /// </summary>
    public string Mtls { get; set; } = MtlsModes.Strict;
}

/// <summary>How a service's sidecar treats callers without a mesh certificate.</summary>
public static class MtlsModes
{
    /// <summary>Only callers that prove a mesh identity with mTLS are served; plaintext requests get 403 <c>mtls-required</c>.</summary>
    public const string Strict = "Strict";

    /// <summary>mTLS callers and plaintext callers are both served.</summary>
    public const string Permissive = "Permissive";
}
