namespace AspireMesh.ProxyEngine.LoadBalancing;

/// <summary>Names of the mesh's own load-balancing policies, as YARP knows them.</summary>
public static class MeshLoadBalancingPolicies
{
    /// <summary>Power of two choices over a peak-latency moving average (the default, as in Linkerd).</summary>
    public const string PeakEwma = "MeshPeakEwma";

    /// <summary>Consistent hashing of a header or cookie on a ring with virtual nodes.</summary>
    public const string ConsistentHash = "MeshConsistentHash";

    /// <summary>Cluster metadata naming the header to hash.</summary>
    public const string HashHeaderMetadata = "mesh.hashHeader";

    /// <summary>Cluster metadata naming the cookie to hash.</summary>
    public const string HashCookieMetadata = "mesh.hashCookie";
}
