using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.Routing;
using AspireMesh.ProxyEngine.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Security;

/// <summary>
/// Enforces the authorization policies of a sidecar's own service on the inbound side, before anything reaches the
/// app: a denied request gets 403 <see cref="MeshErrors.Denied"/> with <see cref="MeshHeaders.DeniedBy"/>; a request
/// only an audited policy would deny is logged, counted and let through. The mesh's health probes of the service
/// (<see cref="InboundPolicies.IsHealthProbe"/>) are not subject to the policies.
/// </summary>
internal sealed class AuthorizationMiddleware(RequestDelegate next, InboundPolicies policies, RequestMetrics metrics, AuthorizationOptions options,
    ILogger<AuthorizationMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        var table = policies.Authorization;
        if (table.IsEmpty || policies.IsHealthProbe(context.Request))
        {
            return next(context);
        }

        var peer = MeshPeerIdentity.Of(context);
        var decision = table.Evaluate(context.Request, peer);
        switch (decision.Outcome)
        {
            case AuthorizationOutcome.Denied:
                ProxyEngineLog.AuthorizationDenied(logger, context.Request.Method, context.Request.Path.Value ?? "/", peer.Service, peer.Principal ?? "no proved identity", options.Service, decision.Policies);
                context.Response.Headers[MeshHeaders.DeniedBy] = decision.Policies;
                return MeshErrorWriter.WriteAsync(context, StatusCodes.Status403Forbidden, MeshErrors.Denied, Describe(context, peer, decision));
            case AuthorizationOutcome.AuditDenied:
                ProxyEngineLog.AuthorizationAuditDenied(logger, context.Request.Method, context.Request.Path.Value ?? "/", peer.Service, peer.Principal ?? "no proved identity", options.Service, decision.Policies);
                metrics.RecordAuditDenial(peer.Service, options.Service, decision.Policies);
                return next(context);
            default:
                return next(context);
        }
    }

    private string Describe(HttpContext context, MeshPeer peer, AuthorizationDecision decision)
    {
        var caller = peer.Principal is null ? $"'{peer.Service}'" : $"'{peer.Service}' ({peer.Principal})";
        // The end user, when the service's authentication policy proved one (what requestPrincipals rules match).
        if (Authentication.RequestPrincipal.Of(context) is { } user)
        {
            caller += $" for end user '{user}'";
        }

        var request = $"{context.Request.Method} {context.Request.Path.Value}";
        return decision.ByDenyPolicy
            ? $"deny policy '{decision.Policies}' of service '{options.Service}' refuses {request} from {caller}."
            : $"no allow policy of service '{options.Service}' ({decision.Policies.Replace(",", ", ", StringComparison.Ordinal)}) allows {request} from {caller}.";
    }
}

/// <summary>How a listener enforces its service's authorization policies.</summary>
public sealed class AuthorizationOptions
{
    /// <summary>The protected service (for messages, logs and metrics).</summary>
    public required string Service { get; init; }
}
