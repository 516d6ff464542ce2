using System.Collections.Frozen;
using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.Registry;

namespace AspireMesh.ControlPlane.State;

/// <summary>
/// One immutable version of everything the control plane knows: the config and the registered instances.
/// Snapshots for proxies are generated from it, never from mutable state.
/// </summary>
internal sealed class MeshState
{
    public MeshState(long version, MeshConfig config, IReadOnlyList<RegisteredInstance> instances, long configVersion = 0)
    {
        Version = version;
        ConfigVersion = configVersion;
        Config = config;
        Instances = instances;
        InstancesByService = instances
            .GroupBy(i => i.Service, StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => (IReadOnlyList<RegisteredInstance>)[.. g.OrderBy(i => i.Id, StringComparer.Ordinal)], StringComparer.Ordinal);
        ServiceNames = [.. config.Services.Select(s => s.Name).Concat(InstancesByService.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        DeclaredServices = config.Services.DistinctBy(s => s.Name).ToFrozenDictionary(s => s.Name, StringComparer.Ordinal);
        RoutesByParent = config.Routes
            .SelectMany(r => r.ParentRefs.Select(p => (Key: $"{p.Kind}/{p.Name}", Route: r)))
            .GroupBy(x => x.Key, StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => (IReadOnlyList<HttpRouteConfig>)[.. g.Select(x => x.Route).Distinct()], StringComparer.Ordinal);
        BackendPolicies = config.Policies.Backends.DistinctBy(p => p.TargetRef.Name).ToFrozenDictionary(p => p.TargetRef.Name, StringComparer.Ordinal);
    }

    /// <summary>The trust domain and trust bundle of the mesh's certificate authority.</summary>
    public MeshTrust Trust { get; init; } = MeshTrust.None;

    /// <summary>Declared services by name.</summary>
    public FrozenDictionary<string, ServiceConfig> DeclaredServices { get; }

    /// <summary>Backend policies by the service they target.</summary>
    public FrozenDictionary<string, BackendPolicy> BackendPolicies { get; }

    private FrozenDictionary<string, IReadOnlyList<HttpRouteConfig>> RoutesByParent { get; }

    /// <summary>Routes attached to a parent (<see cref="ParentKinds"/>, name).</summary>
    public IReadOnlyList<HttpRouteConfig> RoutesOf(string kind, string name) =>
        RoutesByParent.TryGetValue($"{kind}/{name}", out var routes) ? routes : [];

    /// <summary>Changes with anything a proxy could see (config or registry).</summary>
    public long Version { get; }

    /// <summary>The accepted config's version (0 before any).</summary>
    public long ConfigVersion { get; }

    public MeshConfig Config { get; }

    public IReadOnlyList<RegisteredInstance> Instances { get; }

    public FrozenDictionary<string, IReadOnlyList<RegisteredInstance>> InstancesByService { get; }

    /// <summary>Declared services and services that have registered instances, sorted.</summary>
    public IReadOnlyList<string> ServiceNames { get; }

    public IReadOnlyList<RegisteredInstance> InstancesOf(string service) =>
        InstancesByService.TryGetValue(service, out var instances) ? instances : [];
}

/// <summary>What proxies trust: the SPIFFE trust domain and the root certificates (PEM).</summary>
internal sealed record MeshTrust(string TrustDomain, IReadOnlyList<string> Bundle)
{
    /// <summary>Before the CA has started (tests that build states directly).</summary>
    public static readonly MeshTrust None = new(AspireMesh.Contracts.Security.SpiffeId.DefaultTrustDomain, []);
}
