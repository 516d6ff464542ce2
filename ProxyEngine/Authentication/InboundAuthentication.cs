using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Authentication;

/// <summary>
/// A sidecar's check of the end-user credential its service requires (an authentication policy targeting the service,
/// as Istio's RequestAuthentication on a workload, but required): a request without a valid JWT or API key is answered
/// 401 with <c>WWW-Authenticate</c> and <see cref="MeshErrors.Unauthenticated"/> and never reaches the app, whoever the
/// calling workload is. Callers pass the client's credential on (the <c>Authorization</c> header), as in Istio. With a
/// valid one, the headers naming the client (claims, API key name) are set by the sidecar itself, replacing anything the
/// caller sent under those names. The mesh's health probes of the service (<see cref="InboundPolicies.IsHealthProbe"/>)
/// need none.
/// </summary>
public static class InboundAuthentication
{
    /// <summary>Adds the check to a sidecar's inbound pipeline, after the caller's mesh identity, before authorization.</summary>
    public static IApplicationBuilder UseInboundAuthentication(this IApplicationBuilder app, AuthenticationPolicies authentication, InboundPolicies policies,
        string service, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(authentication);
        ArgumentNullException.ThrowIfNull(policies);
        return app.Use((context, next) => authentication.Inbound is { } authenticator && !policies.IsHealthProbe(context.Request)
            ? AuthenticateAsync(context, next, authenticator, service, logger)
            : next(context));
    }

    private static Task AuthenticateAsync(HttpContext context, RequestDelegate next, IAuthenticator authenticator, string service, ILogger logger) =>
        AuthenticationGate.RunAsync(context, authenticator,
            reason => ProxyEngineLog.InboundUnauthenticated(logger, context.Request.Method, context.Request.Path.Value ?? "", service, reason), next);
}

/// <summary>What a gateway's route and a sidecar's service do with a request whose credential a policy requires.</summary>
public static class AuthenticationGate
{
    /// <summary>
    /// Removes the headers <paramref name="authenticator"/> sets from the request, checks the credential, and either
    /// answers 401 (<see cref="MeshErrors.Unauthenticated"/>, <c>WWW-Authenticate</c>; <paramref name="refused"/> is told
    /// why) or sets those headers from the credential and calls <paramref name="next"/>.
    /// </summary>
    public static async Task RunAsync(HttpContext context, IAuthenticator authenticator, Action<string> refused, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(authenticator);
        ArgumentNullException.ThrowIfNull(refused);
        ArgumentNullException.ThrowIfNull(next);
        foreach (var header in authenticator.IdentityHeaders)
        {
            context.Request.Headers.Remove(header);
        }

        var outcome = await authenticator.AuthenticateAsync(context).ConfigureAwait(false);
        if (!outcome.Succeeded)
        {
            refused(outcome.Reason!);
            context.Response.Headers.WWWAuthenticate = outcome.Challenge;
            await MeshErrorWriter.WriteAsync(context, StatusCodes.Status401Unauthorized, MeshErrors.Unauthenticated, outcome.Reason!).ConfigureAwait(false);
            return;
        }

        foreach (var (name, value) in outcome.Identity)
        {
            context.Request.Headers[name] = value;
        }

        RequestPrincipal.Set(context, outcome.Principal);
        await next(context).ConfigureAwait(false);
    }
}

/// <summary>The end user a request's credential proved (<c>iss/sub</c> of its JWT), for authorization rules.</summary>
public static class RequestPrincipal
{
    private static readonly object Key = new();

    /// <summary>The principal proved for <paramref name="context"/>'s request; null when none was.</summary>
    public static string? Of(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Items.TryGetValue(Key, out var value) ? value as string : null;
    }

    internal static void Set(HttpContext context, string? principal)
    {
        if (principal is not null)
        {
            context.Items[Key] = principal;
        }
    }
}
