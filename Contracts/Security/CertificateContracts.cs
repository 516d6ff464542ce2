namespace AspireMesh.Contracts.Security;

/// <summary>
/// POST /v1/certificates: a proxy asks for a workload certificate. The first time it proves itself with a bootstrap
/// credential (<c>Authorization: Bootstrap &lt;credential&gt;</c>); later, to renew, with its current certificate and a
/// signature over the new CSR made with that certificate's key.
/// </summary>
/// <param name="Kind"><c>sidecar</c> or <c>gateway</c>.</param>
/// <param name="Name">The service (or gateway) name.</param>
/// <param name="Instance">The proxy's instance id.</param>
/// <param name="Csr">A PKCS#10 certificate signing request, PEM; its key is the workload's new key.</param>
public sealed record CertificateSigningRequest(string Kind, string Name, string Instance, string Csr)
{
    /// <summary>For a renewal: the current certificate, PEM.</summary>
    public string? CurrentCertificate { get; init; }

    /// <summary>For a renewal: base64 ECDSA/RSA signature (SHA-256) over the CSR's DER bytes with the current key.</summary>
    public string? Proof { get; init; }
}

/// <summary>A workload certificate and what it should trust.</summary>
/// <param name="SpiffeId">The identity the certificate carries.</param>
/// <param name="CertificateChain">The leaf certificate (then any intermediates), PEM.</param>
/// <param name="TrustBundle">The mesh's root certificates, PEM: trust a peer whose chain ends in any of them.</param>
/// <param name="NotAfter">When the certificate expires.</param>
public sealed record IssuedCertificate(string SpiffeId, string CertificateChain, string TrustBundle, DateTimeOffset NotAfter)
{
    /// <summary>
    /// The proxy's registration token, for its own workload and instance until the certificate expires. Carried in the
    /// <see cref="Security.RegistrationToken.ResponseHeader"/> header, not in the body (see there).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string? RegistrationToken { get; init; }
}

/// <summary>GET /v1/ca: the certificate authority's roots and settings.</summary>
/// <param name="TrustDomain">The mesh's SPIFFE trust domain.</param>
/// <param name="Roots">Every trusted root, the issuing one first.</param>
/// <param name="CertificateLifetime">Lifetime of issued workload certificates, in seconds.</param>
public sealed record CertificateAuthorityInfo(string TrustDomain, IReadOnlyList<CertificateAuthorityRoot> Roots, double CertificateLifetime);

/// <summary>One root of the trust bundle.</summary>
/// <param name="Thumbprint">SHA-256 thumbprint, hex.</param>
/// <param name="Issuing">Whether new certificates are issued from it.</param>
/// <param name="NotAfter">Its expiry.</param>
/// <param name="RetiresAt">When a rotated-out root leaves the bundle; null while issuing.</param>
/// <param name="Pem">The certificate, PEM.</param>
public sealed record CertificateAuthorityRoot(string Thumbprint, bool Issuing, DateTimeOffset NotAfter, DateTimeOffset? RetiresAt, string Pem);

/// <summary>POST /v1/bootstrap-credentials (admin): a credential for a proxy that is started by hand or by a deployment.</summary>
/// <param name="Kind"><c>sidecar</c> or <c>gateway</c>.</param>
/// <param name="Name">The service (or gateway) name.</param>
public sealed record BootstrapCredentialRequest(string Kind, string Name)
{
    /// <summary>The one instance it is for; null: any instance of the service, each once.</summary>
    public string? Instance { get; init; }

    /// <summary>How long it may be redeemed, in seconds (default one day).</summary>
    public double? LifetimeSeconds { get; init; }
}

/// <summary>A minted bootstrap credential.</summary>
public sealed record BootstrapCredentialGrant(string Credential, DateTimeOffset Expires);

/// <summary>
/// POST /v1/registration-tokens (admin): a token for an application that registers its own instances of
/// <paramref name="Service"/> (a Eureka or Consul client), from outside the control plane's machine.
/// </summary>
/// <param name="Service">The service whose instances it may register, renew and deregister.</param>
public sealed record RegistrationTokenRequest(string Service)
{
    /// <summary>How long it is good for, in seconds (default 30 days).</summary>
    public double? LifetimeSeconds { get; init; }
}

/// <summary>A minted registration token.</summary>
public sealed record RegistrationTokenGrant(string Token, DateTimeOffset Expires);

/// <summary>POST /v1/registration-tokens/revoke (admin): the token to refuse from now on, though it has not expired.</summary>
public sealed record RegistrationTokenRevocation(string Token);

/// <summary>POST /v1/bootstrap-credentials/revoke (admin): the bootstrap credential to refuse from now on, though it has not expired.</summary>
public sealed record BootstrapCredentialRevocation(string Credential);

/// <summary>A revoked registration token or bootstrap credential: its id, whose it was, when it was revoked and when it would have expired.</summary>
public sealed record CredentialRevoked(string Id, string Kind, string Name, DateTimeOffset RevokedAt, DateTimeOffset Expires);
