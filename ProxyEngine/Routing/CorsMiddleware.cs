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
        if (context.Request.Headers.Origin is not [{ } origin] || context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>() is not { } route
            || routes.Find(route.Config.RouteId)?.Cors is not { } cors)
        {
            return next(context);
        }

        if (HttpMethods.IsOptions(context.Request.Method) && context.Request.Headers.ContainsKey("Access-Control-Request-Method"))
        {
            cors.AnswerPreflight(context, origin);
            return Task.CompletedTask;
        }

        var allowed = cors.Allows(origin);
        context.Response.OnStarting(() =>
        {
            cors.SetResponseHeaders(context, origin, allowed);
            return Task.CompletedTask;
        });
        return next(context);
    }
}
