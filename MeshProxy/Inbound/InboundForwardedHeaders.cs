using AspireMesh.ProxyEngine.Routing;
using AspireMesh.ProxyEngine.Security;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Transforms;

namespace AspireMesh.MeshProxy.Inbound;

/// <summary>
/// What the app learns of who sent a request and for which host. <c>X-Forwarded-For</c>, <c>-Proto</c>, <c>-Host</c>,
/// <c>-Prefix</c> and <c>Forwarded</c> reach the app only from a Gateway that proved its mesh identity: it wrote them
/// from its client's own connection, having removed what the client sent. Another service's sidecar is no authority on
/// them (its app could write anything), so they are removed; <c>x-mesh-source</c> names that caller. A caller that proved
/// no mesh identity (a plaintext one in permissive mode) gets them replaced with what the sidecar's connection shows.
/// A proxy's <see cref="ProxyEngine.MeshHeaders.Authority"/> becomes the request's Host again (<see cref="MeshAuthority"/>).
/// The headers in which a gateway names its authenticated client (<see cref="InboundPolicies.GatewayIdentityHeaderNames"/>)
/// are removed from every caller but a gateway with a proven mesh identity: another service, or a plaintext caller,
/// could otherwise claim to be any user.
/// </summary>
internal static class InboundForwardedHeaders
{
    private static readonly string[] Names = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix", "Forwarded"];

    private static readonly RequestTransform[] FromTheConnection =
    [
        new RequestHeaderXForwardedForTransform("X-Forwarded-For", ForwardedTransformActions.Set),
        new RequestHeaderXForwardedProtoTransform("X-Forwarded-Proto", ForwardedTransformActions.Set),
        new RequestHeaderXForwardedHostTransform("X-Forwarded-Host", ForwardedTransformActions.Set),
        new RequestHeaderXForwardedPrefixTransform("X-Forwarded-Prefix", ForwardedTransformActions.Set),
        new RequestHeaderRemoveTransform("Forwarded"),
    ];

    /// <summary>
    /// Middleware step, after the caller is authenticated: the Host back; another service's forwarded headers, and any
    /// caller's but a gateway's identity headers, out.
    /// </summary>
    public static void Admit(HttpContext context, InboundPolicies policies)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(policies);
        MeshAuthority.Restore(context);
        var peer = MeshPeerIdentity.Of(context);
        if (peer.IsVerifiedGateway)
        {
            return;
        }

        var headers = context.Request.Headers;
        var identityHeaders = policies.GatewayIdentityHeaderNames;
        for (var i = 0; i < identityHeaders.Count; i++)
        {
            headers.Remove(identityHeaders[i]);
        }

        if (peer.Verified)
        {
            foreach (var name in Names)
            {
                headers.Remove(name);
            }
        }
    }

    /// <summary>The request transform: a caller that proved no mesh identity gets them from the connection.</summary>
    public static async ValueTask ApplyAsync(RequestTransformContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (MeshPeerIdentity.Of(context.HttpContext).Verified)
        {
            return;
        }

        foreach (var transform in FromTheConnection)
        {
            await transform.ApplyAsync(context).ConfigureAwait(false);
        }
    }
}
