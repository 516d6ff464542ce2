using System.Net;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Authentication;
using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Routing;
using AspireMesh.ProxyEngine.Security;
using AspireMesh.ProxyEngine.Telemetry;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;

namespace AspireMesh.MeshProxy.Inbound;

/// <summary>
/// The inbound side: takes requests from peers and gateways and forwards them to the local application, stamping
/// each answer with the instance that served it. An unreachable app is answered with <see cref="MeshErrors.AppUnavailable"/>,
/// which callers' sidecars retry on another instance.
/// </summary>
internal static class InboundListener
{
    public static WebApplication Build(SidecarOptions options, ListenerEndpoints endpoints, ProxyStatus status, InboundPolicies policies, PeerAuthentication peers,
        AuthenticationPolicies authentication, RequestMetrics metrics, AccessLog accessLog, TapHub tap, ILogger tlsLogger)
    {
        // Peers' sidecars and gateways call the HTTP/1.1 port with mTLS (ALPN picks HTTP/2); plaintext callers reach the
        // same port and, in strict mode, are told that mTLS is required.
        var builder = ListenerHost.CreateBuilder(k => endpoints.Declare(k, options.InboundAddress, options.InboundPort, options.InboundHttp2Port,
            http1 =>
            {
                if (peers.Identity is not null)
                {
                    http1.UseMeshTls(TlsListeners.Inbound, peers, metrics, tlsLogger);
                }
            }));
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(accessLog);
        builder.Services.AddSingleton(tap);
        builder.Services.AddSingleton(TimeProvider.System);
        // The outbound listener's tracer, when there is one, records this listener's spans too (listeners are per process).
        builder.Services.AddSingleton<IForwarderHttpClientFactory>(new AppHttpClientFactory(TracePropagation.RecordsSpans(options.Telemetry, builder.Configuration)));
        var app = builder.Build();
        app.UseMeshMetrics(new MetricsOptions { Direction = "inbound", Source = "unknown", Destination = options.Service, Enabled = options.Telemetry });
        app.UseMeshErrors(new MeshErrorOptions
        {
            ConnectFailureReason = MeshErrors.AppUnavailable,
            UpstreamName = $"the application of instance '{options.InstanceId}'",
        });
        // Nothing reaches the app before the service's policies (its mTLS mode, who may call it) have come: a peer may
        // route here as soon as the instance registers, which can be before the first snapshot.
        app.UseFirstSnapshotWait(status, "inbound");
        // Who is calling (proved by mTLS, or refused in strict mode); then the service's own inbound policies, before
        // anything reaches the app: who may call it, then how often (a denied request spends no token).
        app.UseGate(peers.AuthenticateAsync);
        app.Use((context, next) =>
        {
            InboundForwardedHeaders.Admit(context, policies);
            return next(context);
        });
        // The end user's credential, when the service requires one; authorization may then rest on who called.
        app.UseInboundAuthentication(authentication, policies, options.Service, app.Logger);
        app.UseMeshAuthorization(policies, new AuthorizationOptions { Service = options.Service });
        app.UseGate(policies.AdmitAsync);
        app.MapForwarder("/{**mesh-rest}", options.AppUrl.ToString(), AppRequestConfig(options), transforms =>
        {
            transforms.AddOriginalHost(useOriginal: true);
            transforms.UseDefaultForwarders = false;
            transforms.AddRequestTransform(InboundForwardedHeaders.ApplyAsync);
            transforms.AddResponseHeader(MeshHeaders.Instance, options.InstanceId, append: false, ResponseCondition.Always);
        });
        return app;
    }

    /// <summary>
    /// How requests reach the app: HTTP/1.1 (peers' HTTP/2 requests are translated), or HTTP/2 with prior knowledge for
    /// an h2c app such as a gRPC server, whose streams and trailers then pass unchanged.
    /// </summary>
    private static ForwarderRequestConfig AppRequestConfig(SidecarOptions options) => options.AppProtocol == AppProtocols.H2c
        ? new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(100), Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact }
        : new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(100), Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower };
}
