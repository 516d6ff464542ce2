using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.Gateway.Authentication;

/// <summary>
/// Requires the credential of the matched route's authentication policy: without a valid one the request is answered
/// 401 with <c>WWW-Authenticate</c> and <see cref="MeshErrors.Unauthenticated"/>, and never forwarded. With one, the
/// headers naming the client (claims, API key name) are set, replacing anything the client sent under those names.
/// Runs after routing, before the route's policies.
/// </summary>
internal sealed class AuthenticationMiddleware(RequestDelegate next, AuthenticationPolicies policies, ILogger<AuthenticationMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context) =>
        // A route without an authentication policy passes straight on (no state machine allocated for it).
        context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>() is { } route && policies.Find(route.Config.RouteId) is { } authenticator
            ? AuthenticateAsync(context, route, authenticator)
            : next(context);

    private Task AuthenticateAsync(HttpContext context, RouteModel route, IAuthenticator authenticator) =>
        AuthenticationGate.RunAsync(context, authenticator,
            reason => GatewayLog.Unauthenticated(logger, context.Request.Method, context.Request.Path.Value ?? "", route.Config.RouteId, reason), next);
}
