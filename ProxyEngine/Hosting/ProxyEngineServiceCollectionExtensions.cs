using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Configuration;
using AspireMesh.ProxyEngine.LoadBalancing;
using AspireMesh.ProxyEngine.Retries;
using AspireMesh.ProxyEngine.Routing;
using AspireMesh.ProxyEngine.Watch;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Transforms;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>DI entry points of the proxy engine.</summary>
public static class ProxyEngineServiceCollectionExtensions
{
    /// <summary>The hosted service with which DataProtection loads its key ring at start (internal to ASP.NET Core).</summary>
    private const string DataProtectionKeyRingLoader = "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService";

    /// <summary>Runs a <see cref="MemoryReclaimer"/> in the host every <paramref name="intervalSeconds"/>; 0 adds nothing.</summary>
    public static IServiceCollection AddMemoryReclaimer(this IServiceCollection services, int intervalSeconds)
    {
        if (intervalSeconds > 0)
        {
            services.AddHostedService(provider => new MemoryReclaimer(TimeSpan.FromSeconds(intervalSeconds),
                provider.GetRequiredService<ILogger<MemoryReclaimer>>()));
        }

        return services;
    }

    /// <summary>
    /// Adds the routing engine driven by control-plane snapshots: YARP with an in-memory config that the
    /// snapshot watcher swaps, retries on transport failures, and the mesh's connect timeout.
    /// </summary>
    public static IServiceCollection AddMeshProxyEngine(this IServiceCollection services, ProxyEngineOptions options, ProxyStatus status)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton(status);
        services.TryAddSingleton(_ => ControlPlaneClient.Create(options.ControlPlane, TimeSpan.FromMinutes(2),
            options.Identity?.ControlPlaneTrust ?? ControlPlaneTrust.FromEnvironment(), options.Identity));
        services.AddSingleton<SnapshotApplier>();
        services.AddSingleton<RouteTable>();
        services.AddSingleton<RoutedHosts>();
        services.TryAddSingleton<Telemetry.RequestMetrics>();
        services.TryAddSingleton(new Telemetry.TapHub(options.ProxyId));
        services.TryAddSingleton(new Telemetry.AccessLog());
        services.TryAddSingleton<InboundPolicies>();
        services.TryAddSingleton(new Security.PeerAuthentication(options.Identity));
        services.AddSingleton<Egress.EgressTable>();
        services.AddSingleton<Egress.EgressForwarder>();
        services.AddSingleton<RequestMirror>();
        services.AddSingleton<InFlightRequests>();
        services.AddSingleton<RetryBudgets>();
        services.AddSingleton<Microsoft.AspNetCore.Routing.MatcherPolicy, RegexMatcherPolicy>();
        services.AddSingleton<Yarp.ReverseProxy.Health.IPassiveHealthCheckPolicy, Health.OutlierDetectionPolicy>();
        services.AddSingleton<PeakEwmaPolicy>();
        services.AddSingleton<ILoadBalancingPolicy>(sp => sp.GetRequiredService<PeakEwmaPolicy>());
        services.AddSingleton<ILoadBalancingPolicy, ConsistentHashPolicy>();
        services.TryAddSingleton<MeshRandom>();
        services.AddHostedService<SnapshotWatcher>();
        services.AddSingleton<IForwarderHttpClientFactory>(new MeshForwarderHttpClientFactory(options.ConnectTimeout, options.Identity, options.ClientSpans));
        services.AddReverseProxy()
            .LoadFromMemory([], []) // also registers InMemoryConfigProvider itself, which SnapshotApplier updates
            .AddTransforms(context =>
            {
                context.AddResponseTransform(RetryResponseTransform.ApplyAsync);
                // Who is calling, for the callee's per-source policies; never what the caller claims.
                context.AddRequestHeader(MeshHeaders.Source, SpiffeId.WorkloadName(options.Kind, options.Name), append: false);
                // The service gets the Host its caller asked for (http://catalog/..., or the public host at the Gateway),
                // as with Istio's and Linkerd's proxies and Gateway API's default, or a route's URLRewrite hostname. YARP
                // keeps the copied Host only with this transform (without one it appends one that drops it).
                context.AddOriginalHost(useOriginal: true);
                context.AddRequestTransform(MeshAuthority.WriteAsync);

                // X-Forwarded-* are the edge's to write: the Gateway sets them from the client's connection (having
                // removed what the client sent); a sidecar passes on what its app sent, as Istio's and Linkerd's do.
                if (options.Kind != ProxyKinds.Gateway)
                {
                    context.UseDefaultForwarders = false;
                }
            });
        UseEphemeralDataProtection(services);
        return services;
    }

    /// <summary>
    /// YARP registers ASP.NET Core's DataProtection for its session-affinity cookies, which mesh routes never set. As
    /// registered, DataProtection loads its key ring when the host starts: it reads the XML key files under the user's
    /// home (<c>~/.aspnet/DataProtection-Keys</c>), writes one there on a first start, and warns in a container, all for
    /// keys a proxy never uses, in a folder a read-only container does not have. A key kept in memory and made on first
    /// use stands in, and the start-up load goes.
    /// </summary>
    internal static void UseEphemeralDataProtection(IServiceCollection services)
    {
        services.RemoveAll<IDataProtectionProvider>();
        services.AddSingleton<IDataProtectionProvider>(provider => new EphemeralDataProtectionProvider(provider.GetRequiredService<ILoggerFactory>()));
        for (var i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(IHostedService) && services[i].ImplementationType?.FullName == DataProtectionKeyRingLoader)
            {
                services.RemoveAt(i);
            }
        }
    }
}

/// <summary>
/// YARP's client factory, with a bounded connect time so an unreachable endpoint fails fast and is retried, and with
/// the proxy's workload certificate for mTLS: the peer must prove the identity the snapshot names for the cluster.
/// </summary>
internal sealed class MeshForwarderHttpClientFactory(TimeSpan connectTimeout, Security.WorkloadIdentity? identity, bool clientSpans)
    : Telemetry.TraceContextClientFactory(clientSpans)
{
    /// <summary>Cluster metadata: the SPIFFE ID every endpoint of the cluster must prove.</summary>
    public const string IdentityMetadata = "AspireMesh.Identity";

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = connectTimeout;
        IoScheduling.ConfigureUpstreamConnections(handler);
        if (identity is not null)
        {
            identity.ConfigureClient(handler.SslOptions, context.NewMetadata?.GetValueOrDefault(IdentityMetadata));
        }
    }

    // A cluster that starts or stops requiring an identity needs a client configured for it.
    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) =>
        base.CanReuseOldClient(context) && context.OldMetadata?.GetValueOrDefault(IdentityMetadata) == context.NewMetadata?.GetValueOrDefault(IdentityMetadata);
}
