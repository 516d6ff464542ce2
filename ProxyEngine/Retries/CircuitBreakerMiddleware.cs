using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Retries;

/// <summary>
/// Circuit breaking by overflow, as Envoy and Istio do it: a service whose backend policy sets connection limits
/// accepts at most <c>maxConnections + maxPendingRequests</c> requests in flight; more are refused at once with 503
/// <see cref="MeshErrors.CircuitOpen"/> instead of piling up behind a struggling service. Mirrored copies sent to the
/// service count among them (<see cref="InFlightRequests"/>).
/// </summary>
internal sealed class CircuitBreakerMiddleware(RequestDelegate next, RouteTable routes, InFlightRequests inFlight)
{
    public Task InvokeAsync(HttpContext context)
    {
        // Without limits the request passes straight on (no state machine allocated for it).
        var cluster = context.GetReverseProxyFeature().Cluster?.Config.ClusterId;
        return cluster is null || routes.Backend(cluster)?.ConnectionLimits is not { } limits ? next(context) : LimitAsync(context, cluster, limits);
    }

    private async Task LimitAsync(HttpContext context, string cluster, ConnectionLimitsConfig limits)
    {
        var capacity = limits.MaxConnections + limits.MaxPendingRequests;
        if (!inFlight.TryEnter(cluster, capacity))
        {
            await MeshErrorWriter.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, MeshErrors.CircuitOpen,
                $"service '{cluster}' already has {capacity} requests in flight (maxConnections {limits.MaxConnections} + maxPendingRequests {limits.MaxPendingRequests}).").ConfigureAwait(false);
            return;
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            inFlight.Exit(cluster);
        }
    }
}
