using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AspireMesh.Contracts.Security;

/// <summary>
/// A new root for a mesh's certificate authority: ECDSA P-256, ten years. The control plane generates one on its first
/// start; a published Kubernetes topology generates it at publish time, so that the proxies can be given it (to trust the
/// control plane's HTTPS certificate by) before the control plane runs.
/// </summary>
public static class MeshRootCertificate
{
    /// <summary>A new self-signed root, with its private key, for <paramref name="trustDomain"/>.</summary>
    public static X509Certificate2 Create(string trustDomain, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"O=AspireMesh, OU={trustDomain}, CN=AspireMesh Root CA {now:yyyy-MM-dd HH:mm:ss}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(now - TimeSpan.FromMinutes(1), now.AddYears(10));
    }

    /// <summary>The private key of a root made by <see cref="Create"/> (or supplied), PKCS#8 PEM.</summary>
    public static string ExportKeyPem(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.GetECDsaPrivateKey() is { } ec ? ec.ExportPkcs8PrivateKeyPem()
            : certificate.GetRSAPrivateKey() is { } rsa ? rsa.ExportPkcs8PrivateKeyPem()
            : throw new InvalidDataException("the root's key is neither ECDSA nor RSA.");
    }
}
