using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>Measures every request a listener handles, whether forwarded or answered by the mesh itself.</summary>
internal sealed class RequestMetricsMiddleware(RequestDelegate next, RequestMetrics metrics, TimeProvider time, MetricsOptions options)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var started = time.GetTimestamp();
        // The caller as its proxy named it; read before forwarding, where this proxy sets its own name.
        var source = options.Direction == "inbound" && context.Request.Headers[MeshHeaders.Source].ToString() is { Length: > 0 } caller ? caller : options.Source;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            var proxy = context.Features.Get<IReverseProxyFeature>();
            metrics.Record(
                options.Direction,
                source,
                proxy?.Cluster?.Config.ClusterId ?? options.Destination,
                proxy?.Route.Config.RouteId ?? "",
                context.Response.StatusCode,
                context.Response.Headers[MeshHeaders.Error].ToString(),
                time.GetElapsedTime(started));
        }
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
}
