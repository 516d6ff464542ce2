using System.Net;
using AspireMesh.Contracts.Security;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Security;
using AspireMesh.ProxyEngine.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Admin;

/// <summary>
/// A proxy's telemetry listener, for when the control plane and Prometheus are on other machines (a pod's IP in
/// Kubernetes), where the admin listener, on loopback, cannot be reached. Like the admin ports of Istio's and Linkerd's
/// proxies, one port takes plaintext and mTLS alike:
/// <list type="bullet">
/// <item><c>/metrics</c> (Prometheus text), <c>/ready</c> and <c>/live</c> answer anyone: scrapers and the kubelet's probes.</item>
/// <item><c>/stats</c> and <c>/tap</c> answer only the control plane, which proves its identity
/// (<see cref="SpiffeId.ControlPlane"/>) with a certificate of this mesh: a tap shows who calls what, so a proxy's other
/// neighbours must not read it (as Linkerd's tap server takes only its tap controller's identity).</item>
/// </list>
/// What can change the proxy (<c>PUT /access-log</c>) and its runtime's counters stay on the admin listener.
/// </summary>
public static class TelemetryListener
{
    /// <summary>
    /// Builds the listener on <paramref name="address"/>:<paramref name="port"/> (null: every address, IPv6 and IPv4 where
    /// the machine has IPv6, as Kestrel's <c>ListenAnyIP</c>; port 0: any free port); once it listens,
    /// records <c>https://<paramref name="advertiseHost"/>:port</c> in <paramref name="status"/>, which the proxy reports to
    /// the control plane in place of its admin address.
    /// </summary>
    public static WebApplication Build(IPAddress? address, int port, string advertiseHost, PeerAuthentication peers, ProxyStatus status,
        RequestMetrics metrics, AccessLog accessLog, TapHub tap, ILogger tlsLogger)
    {
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentNullException.ThrowIfNull(status);
        var identity = peers.Identity ?? throw new ArgumentException("The telemetry listener needs the proxy's workload identity.", nameof(peers));
        ListenOptions? listen = null;
        void Configure(ListenOptions o)
        {
            o.UseMeshTls(TlsListeners.Telemetry, peers, metrics, tlsLogger);
            listen = o;
        }

        var builder = ListenerHost.CreateBuilder(kestrel =>
        {
            if (address is null)
            {
                kestrel.ListenAnyIP(port, Configure);
            }
            else
            {
                kestrel.Listen(address, port, Configure);
            }
        });
        var app = builder.Build();
        // After routing, so the check follows the endpoint a request reaches, however its path is spelt (/STATS, /stats/).
        app.UseRouting();
        app.Use((context, next) => context.GetEndpoint()?.Metadata.GetMetadata<ControlPlaneOnlyEndpoint>() is null || IsControlPlane(context, identity)
            ? next(context)
            : RefuseAsync(context, identity));
        app.MapProxyAdmin(status, metrics, accessLog, tap, ProxyAdminReach.Telemetry);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            if (listen?.EndPoint is IPEndPoint { Port: > 0 } bound)
            {
                status.TelemetryAddress = new UriBuilder("https", advertiseHost, bound.Port).Uri.ToString().TrimEnd('/');
                ProxyEngineLog.TelemetryListening(app.Logger, status.TelemetryAddress);
            }
        });
        return app;
    }

    /// <summary>Whether the request came over mTLS from the control plane of this proxy's trust domain.</summary>
    private static bool IsControlPlane(HttpContext context, WorkloadIdentity identity) =>
        context.Connection.ClientCertificate is { } certificate && SpiffeId.TryFrom(certificate, out var caller)
        && caller == SpiffeId.ControlPlane(identity.Id.TrustDomain);

    private static Task RefuseAsync(HttpContext context, WorkloadIdentity identity)
    {
        var caller = context.Connection.ClientCertificate is { } certificate && SpiffeId.TryFrom(certificate, out var id) ? id.ToString() : "a caller without a mesh certificate";
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(
            $"forbidden: {context.Request.Path} on the telemetry port answers only the control plane ({SpiffeId.ControlPlane(identity.Id.TrustDomain)}) over mTLS, not {caller}; "
            + "/metrics, /ready and /live answer anyone, and on the proxy's own machine everything is on its admin port.\n");
    }
}
