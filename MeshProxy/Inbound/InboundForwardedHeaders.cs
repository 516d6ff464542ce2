using AspireMesh.ProxyEngine.Security;
using Yarp.ReverseProxy.Transforms;

namespace AspireMesh.MeshProxy.Inbound;

/// <summary>
/// What the app learns of the original client. A caller that proved a mesh identity (a peer's sidecar, or the Gateway,
/// which wrote the client's address, scheme and host from the client's own connection) passes its
/// <c>X-Forwarded-For</c>, <c>-Proto</c>, <c>-Host</c> and <c>-Prefix</c> on to the app as they came, so an app behind
/// the mesh sees the client the Gateway saw, as with Istio's and Linkerd's sidecars. For any other caller (a plaintext
/// one in permissive mode, which could write anything), the sidecar replaces them with what its own connection shows.
/// </summary>
internal static class InboundForwardedHeaders
{
    private static readonly RequestTransform[] FromTheConnection =
    [
        new RequestHeaderXForwardedForTransform("X-Forwarded-For", ForwardedTransformActions.Set),
        new RequestHeaderXForwardedProtoTransform("X-Forwarded-Proto", ForwardedTransformActions.Set),
        new RequestHeaderXForwardedHostTransform("X-Forwarded-Host", ForwardedTransformActions.Set),
        new RequestHeaderXForwardedPrefixTransform("X-Forwarded-Prefix", ForwardedTransformActions.Set),
    ];

    /// <summary>Replaces the forwarded headers of a request whose caller proved no mesh identity.</summary>
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
