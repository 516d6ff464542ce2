using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AspireMesh.Contracts.Security;

/// <summary>
/// A new root for a mesh's certificate authority: ECDSA P-256, ten years. The control plane generates one on its first
/// start; a published Kubernetes topology generates it at its first publish (later ones keep it), so that the proxies can
/// be given it (to trust the control plane's HTTPS certificate by) before the control plane runs.
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

    /// <summary>
    /// Why <paramref name="certificate"/> (with its key) cannot be a mesh CA's root, or null when it can: it must be a CA
    /// (basicConstraints CA:TRUE), may sign certificates (keyUsage keyCertSign, when it has a keyUsage) and have an ECDSA
    /// or RSA private key.
    /// </summary>
    public static string? Unusable(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
        {
            return $"{certificate.Subject} is not a CA certificate (basicConstraints CA:TRUE is missing)";
        }

        if (certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage && !usage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign))
        {
            return $"{certificate.Subject} may not sign certificates (its keyUsage lacks keyCertSign)";
        }

        using var ec = certificate.GetECDsaPrivateKey();
        using var rsa = ec is null ? certificate.GetRSAPrivateKey() : null;
        return ec is null && rsa is null ? $"{certificate.Subject} has no ECDSA or RSA private key" : null;
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
