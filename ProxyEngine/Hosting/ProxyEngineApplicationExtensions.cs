using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.LoadBalancing;
using AspireMesh.ProxyEngine.Retries;
using AspireMesh.ProxyEngine.Routing;
using AspireMesh.ProxyEngine.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>Request-pipeline entry points of the proxy engine.</summary>
public static class ProxyEngineApplicationExtensions
{
    /// <summary>
    /// Measures every request (put it first, so that mesh errors and redirects are counted too); adds nothing when
    /// <see cref="MetricsOptions.Enabled"/> is false.
    /// </summary>
    public static IApplicationBuilder UseMeshMetrics(this IApplicationBuilder app, MetricsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Enabled ? app.UseMiddleware<Telemetry.RequestMetricsMiddleware>(options) : app;
    }

    /// <summary>Turns failures the proxy produces into mesh errors (status, <see cref="MeshHeaders.Error"/>, body).</summary>
    public static IApplicationBuilder UseMeshErrors(this IApplicationBuilder app, MeshErrorOptions? options = null) =>
        app.UseMiddleware<MeshErrorMiddleware>(options ?? new MeshErrorOptions());

    /// <summary>
    /// Maps the snapshot-driven routes (with retries before load balancing) and a fallback that answers 404
    /// <see cref="MeshErrors.NoRoute"/> for requests no route matched.
    /// </summary>
    public static WebApplication MapMeshRoutes(this WebApplication app, Func<HttpContext, string> describeNoRoute)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapReverseProxy(pipeline =>
        {
            pipeline.UseMiddleware<RoutePolicyMiddleware>();
            pipeline.UseMiddleware<CircuitBreakerMiddleware>();
            pipeline.UseMiddleware<RetryMiddleware>();
            pipeline.UseLoadBalancing();
            pipeline.UseMiddleware<LatencyObserverMiddleware>();
            pipeline.UsePassiveHealthChecks();
        });
        // The default fallback pattern skips file-like paths (/index.html); every unmatched request gets the mesh error.
        app.MapFallback("/{**mesh-path}", context => MeshErrorWriter.WriteAsync(context, StatusCodes.Status404NotFound, MeshErrors.NoRoute, describeNoRoute(context)));
        return app;
    }
}
