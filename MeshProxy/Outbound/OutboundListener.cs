using System.Net;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.MeshProxy.Registration;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Authentication;
using AspireMesh.ProxyEngine.Configuration;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Routing;
using AspireMesh.ProxyEngine.Security;
using AspireMesh.ProxyEngine.Telemetry;

namespace AspireMesh.MeshProxy.Outbound;

/// <summary>
/// The outbound side: the application's HTTP proxy. A call to <c>http://catalog/...</c> is matched on its Host to the
/// catalog cluster from the latest snapshot and balanced over its healthy instances' inbound listeners; a call to a
/// host outside the mesh leaves only as an egress policy allows.
/// Also owns the instance's registration with the control plane.
/// </summary>
internal static class OutboundListener
{
    public static WebApplication Build(SidecarOptions options, ListenerEndpoints endpoints, ProxyStatus status, InboundPolicies inbound, PeerAuthentication peers,
        AuthenticationPolicies authentication, RequestMetrics metrics, AccessLog accessLog, TapHub tap)
    {
        // CONNECT tunnels (gRPC clients behind HTTP_PROXY) are taken on the HTTP/1.1 port and joined to the right one.
        // That port (plain HTTP/1.1 from the application) runs inline under --io auto; the HTTP/2 one does not.
        var builder = ListenerHost.CreateBuilder(k => endpoints.Declare(k, IPAddress.Loopback, options.OutboundPort, options.OutboundHttp2Port, http1 => http1.PreferInline().Use(next =>
        {
            var tunnel = http1.ApplicationServices.GetRequiredService<ConnectTunnel>();
            return connection => tunnel.OnConnectionAsync(connection, next);
        })));
        builder.Services.AddSingleton(endpoints);
        builder.Services.AddSingleton<ConnectTunnel>();
        builder.Services.AddSingleton(inbound);
        builder.Services.AddSingleton(peers);
        // The engine (here) applies each snapshot; the inbound listener enforces the service's credential from it.
        builder.Services.AddSingleton<ISnapshotConsumer>(authentication);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(accessLog);
        builder.Services.AddSingleton(tap);
        builder.Services.AddMeshProxyEngine(new ProxyEngineOptions
        {
            Kind = ProxyKinds.Sidecar,
            Name = options.Service,
            ProxyId = options.InstanceId,
            ControlPlane = options.ControlPlane,
            StateFile = Path.Combine(options.StateDirectory, "snapshot.json"),
            Identity = peers.Identity,
            ClientSpans = TracePropagation.RecordsSpans(options.Telemetry, builder.Configuration),
        }, status);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<InboundAddress>();
        builder.Services.AddHostedService<RegistrationService>();
        // Traces and metrics over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set. Activity listeners are process-wide,
        // so this one host's providers cover the inbound listener too.
        if (options.Telemetry)
        {
            builder.ConfigureOpenTelemetry();
        }

        var app = builder.Build();
        app.UseMeshMetrics(new MetricsOptions { Direction = "outbound", Source = options.Service, Enabled = options.Telemetry });
        app.UseMeshErrors();
        // Until the first snapshot the outbound side knows no service and no egress policy: hold the app's first calls
        // rather than refuse them, and route them once it arrives (routing comes after the wait, not before it).
        app.UseFirstSnapshotWait(status, "outbound");
        app.UseRouting();
        // Hosts outside the mesh are called only as an egress policy allows.
        app.MapMeshRoutes(context =>
            $"no service named '{context.Request.Host.Host}' is known to the mesh or referenced by '{options.Service}' (request {context.Request.Method} {context.Request.Host}{context.Request.Path}).",
            egress: true);
        return app;
    }
}
