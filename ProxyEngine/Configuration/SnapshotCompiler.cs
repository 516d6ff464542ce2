using System.Globalization;
using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using AspireMesh.ProxyEngine.Health;
using AspireMesh.ProxyEngine.LoadBalancing;

namespace AspireMesh.ProxyEngine.Configuration;

/// <summary>Translates a <see cref="ProxySnapshot"/> into YARP routes and clusters.</summary>
internal static class SnapshotCompiler
{
    /// <summary>Name of the catch-all route parameter of prefix matches.</summary>
    private const string RestParameter = "mesh-rest";

    /// <summary>The cluster of routes that never forward (redirects).</summary>
    public const string NoBackendCluster = "mesh-no-backend";

    public static (IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) Compile(ProxySnapshot snapshot, ProxyEngineOptions options)
    {
        var routes = snapshot.Routes.Select(route => new RouteConfig
        {
            RouteId = route.Name,
            // A redirect-only route has no backend: it points at an empty cluster and the route policy answers it
            // before anything is forwarded (YARP's pipeline needs every route to have a cluster).
            ClusterId = route.Cluster.Length == 0 ? NoBackendCluster : route.Cluster,
            Order = route.Order,
            Match = new RouteMatch
            {
                Hosts = route.Hosts is { Count: > 0 } ? route.Hosts : null,
                Path = ToTemplate(route.Path),
                Methods = route.Method is null ? null : [route.Method],
                // Regular-expression matches are applied by RegexMatcherPolicy; exact ones by YARP.
                Headers = route.Headers.All(h => h.Type != MatchTypes.Exact) ? null : [.. route.Headers.Where(h => h.Type == MatchTypes.Exact).Select(h => new RouteHeader { Name = h.Name, Values = [h.Value], Mode = HeaderMatchMode.ExactHeader, IsCaseSensitive = true })],
                QueryParameters = route.QueryParams.All(q => q.Type != MatchTypes.Exact) ? null : [.. route.QueryParams.Where(q => q.Type == MatchTypes.Exact).Select(q => new RouteQueryParameter { Name = q.Name, Values = [q.Value], Mode = QueryParameterMatchMode.Exact, IsCaseSensitive = true })],
            },
            Transforms = RouteTransforms.From(route),
        }).ToList();

        var clusters = snapshot.Clusters.Select(cluster => Cluster(cluster, options)).ToList();

        if (routes.Any(r => r.ClusterId == NoBackendCluster))
        {
            clusters.Add(new ClusterConfig { ClusterId = NoBackendCluster, Destinations = new Dictionary<string, DestinationConfig>() });
        }

        return (routes, clusters);
    }

    private static ClusterConfig Cluster(ClusterSnapshot cluster, ProxyEngineOptions options)
    {
        // HTTP/2 between proxies when every endpoint's sidecar offers it (h2c with prior knowledge): requests are
        // multiplexed over few connections and gRPC's trailers pass. A cluster with an endpoint that cannot is called
        // over HTTP/1.1 everywhere, so that a request never depends on which endpoint the balancer picked.
        var http2 = cluster.Endpoints.Count > 0 && cluster.Endpoints.All(e => e.Http2Address is not null);
        // mTLS, when this proxy has an identity, to every endpoint that takes it (all as one identity, their service's):
        // on each endpoint's own port (TLS and plaintext share it), with ALPN choosing HTTP/2. An endpoint without a
        // sidecar (an instance a Eureka or Consul client registered) is called in plaintext, over HTTP/1.1, beside
        // them: one such instance must not take the service's sidecars off mTLS, which they would refuse.
        var identities = cluster.Endpoints.Select(e => e.Identity).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        var identity = options.Identity is not null && identities.Count == 1 ? identities[0] : null;
        return new ClusterConfig
        {
            ClusterId = cluster.Name,
            // Power of two choices over peak latency unless a backend policy chooses another (Linkerd's default).
            LoadBalancingPolicy = cluster.Policy?.LoadBalancer is { } lb && SnapshotSupport.LoadBalancers.TryGetValue(lb.Type, out var policy) ? policy : MeshLoadBalancingPolicies.PeakEwma,
            Metadata = Metadata(cluster.Policy, identity),
            HealthCheck = HealthChecks(cluster.Policy),
            HttpClient = cluster.Policy?.ConnectionLimits is { } limits ? new HttpClientConfig { MaxConnectionsPerServer = limits.MaxConnections } : null,
            Destinations = cluster.Endpoints.ToDictionary(
                e => e.InstanceId,
                e => new DestinationConfig
                {
                    Address = identity is null ? (http2 ? e.Http2Address! : e.Address) : e.Identity is not null ? Secure(e.Address) : e.Address,
                },
                StringComparer.OrdinalIgnoreCase),
            HttpRequest = new ForwarderRequestConfig
            {
                ActivityTimeout = options.UpstreamTimeout,
                Version = http2 || identity is not null ? HttpVersion.Version20 : HttpVersion.Version11,
                VersionPolicy = http2 && identity is null ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
            },
        };
    }

    private static string Secure(string address) => new UriBuilder(address) { Scheme = Uri.UriSchemeHttps }.Uri.ToString().TrimEnd('/');

    private static Dictionary<string, string>? Metadata(BackendPolicy? policy, string? identity)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (identity is not null)
        {
            metadata[Hosting.MeshForwarderHttpClientFactory.IdentityMetadata] = identity;
        }

        if (policy?.LoadBalancer is { Type: "ConsistentHash" } hash)
        {
            metadata[hash.HashHeader is null ? MeshLoadBalancingPolicies.HashCookieMetadata : MeshLoadBalancingPolicies.HashHeaderMetadata] = hash.HashHeader ?? hash.HashCookie!;
        }

        if (policy?.OutlierDetection is { } outlier)
        {
            metadata[OutlierDetectionPolicy.ConsecutiveFailuresMetadata] = outlier.ConsecutiveFailures.ToString(CultureInfo.InvariantCulture);
            metadata[OutlierDetectionPolicy.BaseEjectionMetadata] = MeshDuration.Parse(outlier.BaseEjectionTime).TotalSeconds.ToString(CultureInfo.InvariantCulture);
            metadata[OutlierDetectionPolicy.MaxEjectionPercentMetadata] = outlier.MaxEjectionPercent.ToString(CultureInfo.InvariantCulture);
        }

        if (policy?.SlowStart is { } slowStart)
        {
            metadata[PeakEwmaPolicy.SlowStartMetadata] = MeshDuration.Parse(slowStart).TotalSeconds.ToString(CultureInfo.InvariantCulture);
        }

        if (policy?.HealthCheck is { } check)
        {
            metadata["ConsecutiveFailuresHealthPolicy.Threshold"] = check.UnhealthyThreshold.ToString(CultureInfo.InvariantCulture);
        }

        return metadata.Count == 0 ? null : metadata;
    }

    /// <summary>Outlier detection feeds YARP's passive health; health checks are YARP's active ones.</summary>
    private static Yarp.ReverseProxy.Configuration.HealthCheckConfig? HealthChecks(BackendPolicy? policy)
    {
        if (policy?.OutlierDetection is null && policy?.HealthCheck is null)
        {
            return null;
        }

        return new Yarp.ReverseProxy.Configuration.HealthCheckConfig
        {
            Passive = policy.OutlierDetection is null ? null : new PassiveHealthCheckConfig
            {
                Enabled = true,
                Policy = OutlierDetectionPolicy.PolicyName,
                ReactivationPeriod = MeshDuration.Parse(policy.OutlierDetection.BaseEjectionTime),
            },
            Active = policy.HealthCheck is not { } check ? null : new ActiveHealthCheckConfig
            {
                Enabled = true,
                Interval = MeshDuration.Parse(check.Interval),
                Timeout = MeshDuration.Parse(check.Timeout),
                Policy = "ConsecutiveFailures",
                Path = check.Path,
            },
            AvailableDestinationsPolicy = "HealthyOrPanic",
        };
    }

    /// <summary>Turns a Gateway API path match into an ASP.NET Core route template.</summary>
    public static string ToTemplate(PathMatchSnapshot? path)
    {
        if (path is null || path.Type == PathMatchTypes.RegularExpression)
        {
            return $"/{{**{RestParameter}}}";
        }

        // Braces are route-parameter syntax; a literal brace is written twice.
        var literal = path.Value.Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal);
        if (path.Type == PathMatchTypes.Exact)
        {
            return literal;
        }

        var prefix = literal.TrimEnd('/');
        return $"{prefix}/{{**{RestParameter}}}";
    }
}
