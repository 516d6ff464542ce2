using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>
/// The Host a forwarded request is for: what a route's URLRewrite hostname set, else the caller's. To a plain endpoint it
/// goes as the request's Host. Over mTLS to another proxy it goes in <see cref="MeshHeaders.Authority"/>, and the hop's
/// Host stays the endpoint's address: .NET takes a TLS connection's server name, and the pool it belongs to, from the
/// Host header, so the Host a client chose would otherwise open a pool and a handshake per value and show the public
/// host name in clear on the mesh's hops. The receiving sidecar gives it back (<see cref="Restore"/>).
/// </summary>
public static class MeshAuthority
{
    /// <summary>Writes the request's Host or <see cref="MeshHeaders.Authority"/> (a YARP request transform; run it last).</summary>
    public static ValueTask WriteAsync(RequestTransformContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var headers = context.ProxyRequest.Headers;
        // Never what the caller wrote: only proxies speak for the Host.
        headers.Remove(MeshHeaders.Authority);
        var host = headers.Host ?? (context.HttpContext.Request.Host.HasValue ? context.HttpContext.Request.Host.Value : null);
        if (host is null)
        {
            return ValueTask.CompletedTask;
        }

        if (context.HttpContext.Features.Get<IReverseProxyFeature>()?.Cluster.Config.Metadata?.ContainsKey(Hosting.MeshForwarderHttpClientFactory.IdentityMetadata) == true)
        {
            headers.Host = null;
            headers.TryAddWithoutValidation(MeshHeaders.Authority, host);
        }
        else
        {
            headers.Host = host;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// On a sidecar's inbound side, after the caller was authenticated: a caller that proved a mesh identity (a proxy)
    /// gets its <see cref="MeshHeaders.Authority"/> back as the request's Host; from anyone else the header is dropped.
    /// </summary>
    public static void Restore(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var headers = context.Request.Headers;
        if (!headers.TryGetValue(MeshHeaders.Authority, out var authority))
        {
            return;
        }

        headers.Remove(MeshHeaders.Authority);
        if (Security.MeshPeerIdentity.Of(context).Verified && authority.Count == 1 && !string.IsNullOrEmpty(authority[0]))
        {
            context.Request.Host = new HostString(authority[0]!);
        }
    }
}
