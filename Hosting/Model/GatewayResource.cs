using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.Hosting.Model;

/// <summary>An ingress gateway and the routes attached to it.</summary>
public sealed class GatewayResource
{
    private readonly List<GatewayRoute> _routes = [];

    internal GatewayResource(string name) => Name = name;

    /// <summary>Gateway name.</summary>
    public string Name { get; }

    /// <summary>Routes attached to the gateway.</summary>
    public IReadOnlyList<GatewayRoute> Routes => _routes;

    /// <summary>Routes requests whose path starts with <paramref name="pathPrefix"/> to <paramref name="service"/>.</summary>
    public GatewayResource WithRoute(string pathPrefix, ProjectResource service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return WithRoute(pathPrefix, service.Name, PathMatchTypes.PathPrefix);
    }

    /// <summary>Routes requests whose path equals <paramref name="path"/> to <paramref name="service"/>.</summary>
    public GatewayResource WithExactRoute(string path, ProjectResource service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return WithRoute(path, service.Name, PathMatchTypes.Exact);
    }

    /// <summary>Routes requests to the service named <paramref name="service"/>; <paramref name="matchType"/> is Exact or PathPrefix.</summary>
    public GatewayResource WithRoute(string path, string service, string matchType)
    {
        _routes.Add(new GatewayRoute(path, matchType, service));
        return this;
    }
}

/// <summary>A gateway route: a path match and the service it goes to.</summary>
public sealed record GatewayRoute(string Path, string MatchType, string Service);
