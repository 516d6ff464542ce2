using AspireMesh.Contracts.Security;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Security;

/// <summary>
/// Who sent a request to a proxy's inbound side: the calling service, its SPIFFE ID when the connection proved it with a
/// mesh certificate, and whether it was proved at all.
/// </summary>
/// <param name="Service">The calling service, <c>gateway/name</c> for a gateway, or <c>unknown</c>.</param>
/// <param name="Principal">The caller's SPIFFE ID (<c>spiffe://trust-domain/ns/namespace/sa/service</c>), or null when unproved.</param>
/// <param name="Verified">True when the identity comes from a verified peer certificate rather than a header.</param>
public sealed record MeshPeer(string Service, string? Principal, bool Verified)
{
    /// <summary>The identity of a caller that said nothing about itself.</summary>
    public static readonly MeshPeer Unknown = new("unknown", null, Verified: false);

    /// <summary>Whether the caller is a gateway that proved it with its mesh certificate.</summary>
    public bool IsVerifiedGateway => Verified && SpiffeId.IsGatewayWorkload(Service);
}

/// <summary>Reads and records the <see cref="MeshPeer"/> of a request.</summary>
public static class MeshPeerIdentity
{
    /// <summary>
    /// The caller of this request: what the connection proved (set with <see cref="Set"/>), or else what the caller's proxy
    /// claimed in <see cref="MeshHeaders.Source"/> (unverified).
    /// </summary>
    public static MeshPeer Of(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // A request feature rather than HttpContext.Items, which would allocate a dictionary for every request.
        if (context.Features.Get<MeshPeer>() is { } peer)
        {
            return peer;
        }

        return context.Request.Headers[MeshHeaders.Source].ToString() is { Length: > 0 } claimed
            ? new MeshPeer(claimed, null, Verified: false)
            : MeshPeer.Unknown;
    }

    /// <summary>Records the proved identity of this request's caller.</summary>
    public static void Set(HttpContext context, MeshPeer peer)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Features.Set(peer);
    }
}
