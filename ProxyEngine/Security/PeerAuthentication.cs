using System.Security.Cryptography.X509Certificates;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Errors;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Security;

/// <summary>
/// Who may call a sidecar's inbound side: in <see cref="MtlsModes.Strict"/> mode (the default) only peers that proved a
/// mesh identity with mTLS; in <see cref="MtlsModes.Permissive"/> mode plaintext callers too. The mode comes with every
/// snapshot; so does the trust bundle, which it hands to the <see cref="WorkloadIdentity"/>.
/// </summary>
public sealed class PeerAuthentication(WorkloadIdentity? identity)
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<X509Certificate2, MeshPeer> Peers = new();
    private volatile string _mode = MtlsModes.Strict;

    /// <summary>The proxy's identity; null for a proxy without one (in-process test hosts).</summary>
    public WorkloadIdentity? Identity => identity;

    /// <summary>The current mode.</summary>
    public string Mode => _mode;

    internal void Apply(ProxySnapshot snapshot)
    {
        _mode = snapshot.Inbound.Mtls;
        identity?.UpdateTrustBundle(snapshot.TrustBundle);
    }

    /// <summary>
    /// Records the verified caller of a TLS request (and tells the app who it is, in <see cref="MeshHeaders.Source"/>);
    /// refuses a plaintext request in strict mode with 403 <see cref="MeshErrors.MtlsRequired"/>. Returns whether the
    /// request may go on.
    /// </summary>
    public async ValueTask<bool> AuthenticateAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Connection.ClientCertificate is { } certificate)
        {
            // The handshake already checked the chain and the SPIFFE ID; here it only becomes the request's caller. The
            // certificate object lives as long as its connection: its identity is read once, not per request.
            if (Peers.GetValue(certificate, static c => SpiffeId.TryFrom(c, out var id) ? new MeshPeer(id.Workload, id.ToString(), Verified: true) : MeshPeer.Unknown) is { Verified: true } peer)
            {
                MeshPeerIdentity.Set(context, peer);
                context.Request.Headers[MeshHeaders.Source] = peer.Service;
                return true;
            }
        }

        if (identity is null || _mode == MtlsModes.Permissive)
        {
            return true;
        }

        await MeshErrorWriter.WriteAsync(context, StatusCodes.Status403Forbidden, MeshErrors.MtlsRequired,
            $"this service takes mesh callers with mTLS only (strict mode): call it through a sidecar, or set services[].mtls: {MtlsModes.Permissive} for it while it migrates.").ConfigureAwait(false);
        return false;
    }

    /// <summary>Validates a client certificate in the TLS handshake (Kestrel's callback); logs why one is refused.</summary>
    internal bool ValidateClient(X509Certificate2 certificate, Microsoft.Extensions.Logging.ILogger logger)
    {
        if (identity is null)
        {
            return false;
        }

        if (identity.TryValidatePeer(certificate, expected: null, out _, out var reason))
        {
            return true;
        }

        ProxyEngineLog.PeerRefused(logger, "downstream", reason);
        return false;
    }
}
