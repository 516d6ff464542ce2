using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.Gateway.Ingress;

/// <summary>
/// Removes, from every client request, the headers that carry identity inside the mesh, so a client cannot claim to be
/// a service, a certificate or a verified user: <c>x-mesh-*</c> (the mesh's own, e.g. <see cref="MeshHeaders.Source"/>
/// and the claims the gateway passes on after authentication), <c>x-spiffe-*</c>, <c>x-forwarded-*</c> (including
/// <c>x-forwarded-client-cert</c>; the forwarder sets X-Forwarded-For/Proto/Host/Prefix itself), <c>forwarded</c>,
/// <c>x-real-ip</c>, <c>x-client-cert</c>/<c>ssl-client-cert</c>, any names the gateway was started with, and the
/// headers in which the mesh's gateways name authenticated clients (<c>claimsToHeaders</c> of every JWT policy, whatever
/// route or gateway it is attached to: a route without authentication must not let a client write them either).
/// </summary>
internal sealed class IdentityHeadersMiddleware(RequestDelegate next, IngressOptions options, InboundPolicies policies)
{
    private static readonly string[] Prefixes = ["x-mesh-", "x-spiffe-", "x-forwarded-"];

    private readonly HashSet<string> _exact = new(["forwarded", "x-real-ip", "x-client-cert", "ssl-client-cert", "x-ssl-client-cert", .. options.StripHeaders],
        StringComparer.OrdinalIgnoreCase);

    public Task InvokeAsync(HttpContext context)
    {
        // The pairs, not Keys: Kestrel builds a new set of the names for every call of Keys.
        List<string>? remove = null;
        foreach (var (name, _) in context.Request.Headers)
        {
            if (IsIdentityHeader(name))
            {
                (remove ??= []).Add(name);
            }
        }

        if (remove is not null)
        {
            foreach (var name in remove)
            {
                context.Request.Headers.Remove(name);
            }
        }

        // Those of the mesh's policies (x-mesh-jwt-sub and x-mesh-api-key went with the x-mesh- prefix above).
        var identityHeaders = policies.GatewayIdentityHeaderNames;
        for (var i = 0; i < identityHeaders.Count; i++)
        {
            context.Request.Headers.Remove(identityHeaders[i]);
        }

        return next(context);
    }

    private bool IsIdentityHeader(string name)
    {
        foreach (var prefix in Prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return _exact.Contains(name);
    }
}
