using System.Net;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Routing;
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
    public static WebApplication Build(SidecarOptions options, ListenerEndpoints endpoints, InboundPolicies policies, RequestMetrics metrics, AccessLog accessLog, TapHub tap)
    {
        var builder = ListenerHost.CreateBuilder(k => endpoints.Declare(k, options.InboundPort, options.InboundHttp2Port));
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(accessLog);
        builder.Services.AddSingleton(tap);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IForwarderHttpClientFactory>(new ForwarderHttpClientFactory());
        var app = builder.Build();
        app.UseMeshMetrics(new MetricsOptions { Direction = "inbound", Source = "unknown", Destination = options.Service, Enabled = options.Telemetry });
        app.UseMeshErrors(new MeshErrorOptions
        {
            ConnectFailureReason = MeshErrors.AppUnavailable,
            UpstreamName = $"the application of instance '{options.InstanceId}'",
        });
        // The service's own inbound policies (rate limits) come before anything reaches the app.
        app.Use(async (context, next) =>
        {
            if (await policies.AdmitAsync(context).ConfigureAwait(false))
            {
                await next(context).ConfigureAwait(false);
            }
        });
        app.MapForwarder("/{**mesh-rest}", options.AppUrl.ToString(), AppRequestConfig(options), transforms =>
        {
            transforms.AddOriginalHost(useOriginal: true);
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
