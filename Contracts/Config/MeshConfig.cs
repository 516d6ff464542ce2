namespace AspireMesh.Contracts.Config;

/// <summary>
/// The mesh configuration: the services that exist and the HTTP routes attached to gateways, shaped after
/// Kubernetes Gateway API's HTTPRoute so that it maps 1:1 to its resources.
/// </summary>
public sealed record MeshConfig
{
    /// <summary>Declared services. Instances register against these names.</summary>
    public IReadOnlyList<ServiceConfig> Services { get; init; } = [];

    /// <summary>HTTP routes.</summary>
    public IReadOnlyList<HttpRouteConfig> Routes { get; init; } = [];
}

/// <summary>A declared service.</summary>
public sealed record ServiceConfig
{
    /// <summary>DNS-label name, e.g. <c>catalog</c>; apps call it as <c>http://catalog/</c>.</summary>
    public string Name { get; init; } = "";

    /// <summary>Names of the services this one calls.</summary>
    public IReadOnlyList<string> References { get; init; } = [];
}

/// <summary>An HTTPRoute: attaches to parents (gateways) and holds rules.</summary>
public sealed record HttpRouteConfig
{
    /// <summary>Unique route name.</summary>
    public string Name { get; init; } = "";

    /// <summary>The gateways this route attaches to.</summary>
    public IReadOnlyList<ParentReference> ParentRefs { get; init; } = [];

    /// <summary>Rules, each with matches and backends.</summary>
    public IReadOnlyList<HttpRouteRule> Rules { get; init; } = [];
}

/// <summary>A reference to a gateway a route attaches to.</summary>
public sealed record ParentReference
{
    /// <summary>Gateway name.</summary>
    public string Name { get; init; } = "";
}

/// <summary>A rule: requests matching any of <see cref="Matches"/> go to <see cref="BackendRefs"/>.</summary>
public sealed record HttpRouteRule
{
    /// <summary>Alternative matches; empty means a PathPrefix match on '/'.</summary>
    public IReadOnlyList<HttpRouteMatch> Matches { get; init; } = [];

    /// <summary>Backends (services) the matched requests go to.</summary>
    public IReadOnlyList<BackendReference> BackendRefs { get; init; } = [];
}

/// <summary>One match of a rule.</summary>
public sealed record HttpRouteMatch
{
    /// <summary>Path match.</summary>
    public HttpPathMatch? Path { get; init; }
}

/// <summary>A path match (type Exact or PathPrefix).</summary>
public sealed record HttpPathMatch
{
    /// <summary><c>Exact</c> or <c>PathPrefix</c>.</summary>
    public string Type { get; init; } = Snapshots.PathMatchTypes.PathPrefix;

    /// <summary>Absolute path starting with '/'.</summary>
    public string Value { get; init; } = "/";
}

/// <summary>A backend of a rule: a declared service.</summary>
public sealed record BackendReference
{
    /// <summary>Service name.</summary>
    public string Name { get; init; } = "";

    /// <summary>Relative weight among the rule's backends.</summary>
    public int Weight { get; init; } = 1;
}
