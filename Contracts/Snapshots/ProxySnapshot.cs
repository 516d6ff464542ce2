namespace AspireMesh.Contracts.Snapshots;

/// <summary>
/// Everything one proxy needs, computed for it by the control plane: the routes it serves and the clusters
/// (services with their endpoints) those routes send to. Proxies apply a snapshot whole or not at all.
/// </summary>
/// <param name="Version">Monotonic version of the mesh state the snapshot was generated from.</param>
public sealed record ProxySnapshot(long Version, IReadOnlyList<RouteSnapshot> Routes, IReadOnlyList<ClusterSnapshot> Clusters);

/// <summary>A compiled route: which requests it takes and the cluster it sends them to.</summary>
/// <param name="Name">Unique within the snapshot; used in telemetry and errors.</param>
/// <param name="Hosts">Host names the request's Host header must match; empty or null means any host.</param>
/// <param name="Path">Path match; null means any path.</param>
/// <param name="Cluster">Name of a cluster in the same snapshot.</param>
/// <param name="Order">Lower values are tried first when several routes match.</param>
public sealed record RouteSnapshot(string Name, IReadOnlyList<string>? Hosts, PathMatchSnapshot? Path, string Cluster, int Order = 0);

/// <summary>A path match in Gateway API terms.</summary>
/// <param name="Type"><see cref="PathMatchTypes.Exact"/> or <see cref="PathMatchTypes.PathPrefix"/>.</param>
/// <param name="Value">An absolute path starting with '/'.</param>
public sealed record PathMatchSnapshot(string Type, string Value);

/// <summary>Gateway API path match types.</summary>
public static class PathMatchTypes
{
    /// <summary>The path equals the value.</summary>
    public const string Exact = "Exact";

    /// <summary>The path equals the value or continues it after a '/'.</summary>
    public const string PathPrefix = "PathPrefix";
}

/// <summary>A service as a load-balancing target: its healthy endpoints.</summary>
public sealed record ClusterSnapshot(string Name, IReadOnlyList<EndpointSnapshot> Endpoints);

/// <summary>One endpoint of a cluster: an instance's sidecar inbound address.</summary>
public sealed record EndpointSnapshot(string InstanceId, string Address);

/// <summary>The kinds of proxy the control plane generates snapshots for.</summary>
public static class ProxyKinds
{
    /// <summary>A sidecar beside a service instance: its snapshot holds outbound routes to the services it may call.</summary>
    public const string Sidecar = "sidecar";

    /// <summary>An ingress gateway: its snapshot holds the routes attached to it.</summary>
    public const string Gateway = "gateway";
}
