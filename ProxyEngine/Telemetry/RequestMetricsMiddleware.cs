using AspireMesh.ProxyEngine.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>Measures every request a listener handles, whether forwarded or answered by the mesh itself.</summary>
internal sealed class RequestMetricsMiddleware(RequestDelegate next, RequestMetrics metrics, AccessLog accessLog, TapHub tap, TimeProvider time, MetricsOptions options,
    ILogger<AccessLog> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var started = time.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            // The caller: proved by its certificate, or as its proxy named it when it came in plaintext.
            var source = options.Direction == "inbound" && MeshPeerIdentity.Of(context) is { } peer && !ReferenceEquals(peer, MeshPeer.Unknown) ? peer.Service : options.Source;
            var proxy = context.Features.Get<IReverseProxyFeature>();
            // Requests to hosts outside the mesh are measured with the host as destination and the egress policy as route.
            var egress = proxy is null ? context.Features.Get<Egress.EgressRequestFeature>() : null;
            var destination = proxy?.Cluster?.Config.ClusterId ?? egress?.Host ?? options.Destination;
            var route = proxy?.Route.Config.RouteId ?? egress?.Route ?? "";
            var meshError = context.Response.Headers[MeshHeaders.Error].ToString();
            var elapsed = time.GetElapsedTime(started);
            // Body sizes as declared (Content-Length); streamed bodies of unknown length count as 0.
            metrics.Record(options.Direction, source, destination, route, context.Response.StatusCode, meshError, elapsed,
                context.Request.ContentLength ?? 0, context.Response.ContentLength ?? 0);
            if (tap.Active)
            {
                tap.Publish(new Contracts.Admin.TapEvent(DateTimeOffset.UtcNow, tap.ProxyId, options.Direction, context.Request.Method, context.Request.Host.Value ?? "",
                    context.Request.Path.Value ?? "", context.Response.StatusCode, elapsed.TotalMilliseconds, source, destination,
                    proxy?.ProxiedDestination?.DestinationId ?? "", route, meshError, System.Diagnostics.Activity.Current?.TraceId.ToString() ?? ""));
            }

            if (System.Diagnostics.Activity.Current is { IsAllDataRequested: true } span && span.Source.HasListeners())
            {
                // The request's server span (ASP.NET Core's) carries what the mesh did, for traces in any OTLP backend.
                // Without a tracer the span still exists (ASP.NET Core creates one for trace-context propagation and log
                // scopes) but nothing records it: no tags then.
                span.SetTag("mesh.direction", options.Direction);
                span.SetTag("mesh.source", source);
                span.SetTag("mesh.destination", destination);
                span.SetTag("mesh.route", route);
                span.SetTag("mesh.endpoint", proxy?.ProxiedDestination?.DestinationId);
                if (meshError.Length > 0)
                {
                    span.SetTag("mesh.error", meshError);
                }
            }
            if (accessLog.Enabled)
            {
                ProxyEngineLog.Access(logger, options.Direction, context.Request.Method, context.Request.Host.Value ?? "", context.Request.Path.Value ?? "",
                    context.Request.Protocol, context.Response.StatusCode, elapsed.TotalMilliseconds, source, destination, proxy?.ProxiedDestination?.DestinationId ?? "", route, meshError,
                    System.Diagnostics.Activity.Current?.TraceId.ToString() ?? "");
            }
        }
    }
}

/// <summary>Whether this proxy writes an access log line per request; switchable at run time.</summary>
public sealed class AccessLog
{
    private volatile bool _enabled;

    /// <summary>Creates the switch, on or off.</summary>
    public AccessLog(bool enabled = false) => _enabled = enabled;

    /// <summary>Whether lines are written.</summary>
    public bool Enabled
    {
        get => _enabled;
        set => _enabled = value;
    }
}

/// <summary>How a listener labels what it measures.</summary>
public sealed class MetricsOptions
{
    /// <summary><c>inbound</c> (a sidecar's app receives), <c>outbound</c> (its app calls) or <c>ingress</c> (a gateway).</summary>
    public required string Direction { get; init; }

    /// <summary>Source label when the request does not name its caller.</summary>
    public required string Source { get; init; }

    /// <summary>Destination label when no cluster was chosen (an inbound sidecar's own service, or none).</summary>
    public string Destination { get; init; } = "";

    /// <summary>
    /// Whether requests are measured at all. Off (<c>--telemetry off</c>) leaves the middleware out of the pipeline:
    /// no metrics, tap events, access log lines or span tags; meant for measuring what telemetry costs.
    /// </summary>
    public bool Enabled { get; init; } = true;
}
