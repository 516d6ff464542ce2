using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>
/// A route's CORS filter, before anything that could refuse a request (authentication above all: a browser's preflight
/// carries no credentials): answers preflights itself and sets the CORS headers of the responses to actual requests.
/// Requests without an <c>Origin</c>, and routes without the filter, pass straight on.
/// </summary>
internal sealed class CorsMiddleware(RequestDelegate next, RouteTable routes)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!routes.AnyCors || context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>() is not { } route || routes.Find(route.Config.RouteId)?.Cors is not { } cors)
        {
            return next(context);
        }

        // One Origin, or none that counts: a request with several is answered as one from no allowed origin.
        var origin = context.Request.Headers.Origin is [{ } single] ? single : null;
        if (origin is not null && HttpMethods.IsOptions(context.Request.Method) && context.Request.Headers.ContainsKey("Access-Control-Request-Method"))
        {
            cors.AnswerPreflight(context, origin);
            return Task.CompletedTask;
        }

        // Every response of the route, with an Origin or not, carries the route's CORS headers and Vary: Origin, so no
        // cache serves one origin's answer (or the app's own headers) to another.
        var allowed = cors.Allows(origin);
        context.Response.OnStarting(() =>
        {
            cors.SetResponseHeaders(context, origin, allowed);
            return Task.CompletedTask;
        });
        return next(context);
    }
}
