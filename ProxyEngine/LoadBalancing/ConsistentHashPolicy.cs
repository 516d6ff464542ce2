using System.Runtime.CompilerServices;
using System.Text;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.LoadBalancing;

/// <summary>
/// Sends every request with the same key (a header or cookie named by the backend policy) to the same endpoint, and
/// when endpoints join or leave moves only about 1/N of the keys: endpoints sit on a hash ring at many virtual points,
/// a key goes to the first point clockwise whose endpoint is available. Requests without the key are spread at random.
/// </summary>
internal sealed class ConsistentHashPolicy(MeshRandom random) : ILoadBalancingPolicy
{
    private readonly ConditionalWeakTable<ClusterDestinationsState, HashRing<DestinationState>> _rings = [];

    public string Name => MeshLoadBalancingPolicies.ConsistentHash;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count <= 1)
        {
            return availableDestinations.Count == 0 ? null : availableDestinations[0];
        }

        var key = Key(context, cluster);
        if (key is null)
        {
            return availableDestinations[(int)(random.NextDouble() * availableDestinations.Count) % availableDestinations.Count];
        }

        var state = cluster.DestinationsState;
        var ring = _rings.GetValue(state, s => new HashRing<DestinationState>(s.AllDestinations, d => d.DestinationId));
        return ring.Find(key, d => Contains(availableDestinations, d)) ?? availableDestinations[0];
    }

    private static string? Key(HttpContext context, ClusterState cluster)
    {
        var metadata = cluster.Model.Config.Metadata;
        if (metadata?.GetValueOrDefault(MeshLoadBalancingPolicies.HashHeaderMetadata) is { } header)
        {
            var value = context.Request.Headers[header].ToString();
            return value.Length == 0 ? null : value;
        }

        return metadata?.GetValueOrDefault(MeshLoadBalancingPolicies.HashCookieMetadata) is { } cookie ? context.Request.Cookies[cookie] : null;
    }

    private static bool Contains(IReadOnlyList<DestinationState> list, DestinationState candidate)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (ReferenceEquals(list[i], candidate))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>A consistent-hash ring: each member at <see cref="VirtualNodes"/> points, found by binary search.</summary>
internal sealed class HashRing<T>
    where T : class
{
    public const int VirtualNodes = 160;
    private readonly ulong[] _points;
    private readonly T[] _owners;

    public HashRing(IEnumerable<T> members, Func<T, string> id)
    {
        var points = members
            .SelectMany(m => Enumerable.Range(0, VirtualNodes).Select(v => (Point: Hash($"{id(m)}#{v}"), Member: m)))
            .OrderBy(p => p.Point)
            .ToArray();
        _points = [.. points.Select(p => p.Point)];
        _owners = [.. points.Select(p => p.Member)];
    }

    /// <summary>The first member clockwise from <paramref name="key"/> that <paramref name="usable"/> accepts.</summary>
    public T? Find(string key, Func<T, bool> usable)
    {
        if (_points.Length == 0)
        {
            return null;
        }

        var index = Array.BinarySearch(_points, Hash(key));
        if (index < 0)
        {
            index = ~index;
        }

        for (var step = 0; step < _points.Length; step++)
        {
            var owner = _owners[(index + step) % _points.Length];
            if (usable(owner))
            {
                return owner;
            }
        }

        return null;
    }

    /// <summary>FNV-1a over UTF-8, then a 64-bit finalizer so that similar keys land far apart.</summary>
    public static ulong Hash(string value)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdUL;
        hash ^= hash >> 33;
        hash *= 0xc4ceb9fe1a85ec53UL;
        hash ^= hash >> 33;
        return hash;
    }
}
