using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AspireMesh.Contracts.Security;

namespace AspireMesh.TestSupport;

/// <summary>
/// A workload certificate issued by a test control plane's real CA (bootstrap credential + CSR, as a proxy gets one),
/// and HTTP clients that use it for mTLS: what a peer sidecar does, without one.
/// </summary>
public sealed class MeshIdentity : IDisposable
{
    private MeshIdentity(X509Certificate2 certificate, X509Certificate2Collection roots, IssuedCertificate issued)
    {
        Certificate = certificate;
        Roots = roots;
        Issued = issued;
    }

    /// <summary>The certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The mesh's roots at issuance.</summary>
    public X509Certificate2Collection Roots { get; }

    /// <summary>What the control plane answered.</summary>
    public IssuedCertificate Issued { get; }

    /// <summary>Gets a certificate for <paramref name="kind"/>/<paramref name="name"/> from <paramref name="controlPlane"/>.</summary>
    public static async Task<MeshIdentity> IssueAsync(ControlPlaneProcess controlPlane, string kind, string name, string? instance = null)
    {
        ArgumentNullException.ThrowIfNull(controlPlane);
        instance ??= $"{name}-test-{Guid.NewGuid():N}"[..24];
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var issued = await controlPlane.Client.RequestCertificateAsync(new CertificateSigningRequest(kind, name, instance, csr),
            ControlPlaneProcess.Credential(kind, name, instance), CancellationToken.None).ConfigureAwait(false);
        using var leaf = X509Certificate2.CreateFromPem(issued.CertificateChain);
        // Exported and loaded again: SslStream on Linux wants a key it can hand to OpenSSL as a whole certificate.
        var withKey = X509CertificateLoader.LoadPkcs12(leaf.CopyWithPrivateKey(key).Export(X509ContentType.Pfx), null);
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(issued.TrustBundle);
        return new MeshIdentity(withKey, roots, issued);
    }

    /// <summary>
    /// An HTTP client that presents <paramref name="clientCertificate"/> (none when null) and trusts servers whose chain
    /// ends in <see cref="Roots"/>; HTTP/2 is offered by ALPN when <paramref name="http2"/>.
    /// </summary>
    public HttpClient Client(X509Certificate2? clientCertificate = null, bool http2 = false, bool useOwnCertificate = true) =>
        CreateClient(useOwnCertificate ? clientCertificate ?? Certificate : clientCertificate, Roots, http2);

    /// <summary>An HTTP client with an arbitrary client certificate that trusts servers chaining to <paramref name="roots"/>.</summary>
    public static HttpClient CreateClient(X509Certificate2? clientCertificate, X509Certificate2Collection roots, bool http2 = false)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = clientCertificate is null ? null : new X509CertificateCollection { clientCertificate },
                LocalCertificateSelectionCallback = clientCertificate is null ? null : (_, _, _, _, _) => clientCertificate,
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                    using var server = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    return chain.Build(server);
                },
            },
        };
        return new HttpClient(handler)
        {
            Timeout = TimeSpan.FromSeconds(30),
            DefaultRequestVersion = http2 ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
    }

    /// <summary>The https form of a sidecar's inbound URL (mTLS and plaintext share its port).</summary>
    public static Uri Secure(Uri url) => new UriBuilder(url) { Scheme = Uri.UriSchemeHttps }.Uri;

    /// <inheritdoc/>
    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var root in Roots)
        {
            root.Dispose();
        }
    }
}
