using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AspireMesh.Contracts.Security;

namespace AspireMesh.Contracts.Tests.Security;

/// <summary>Which certificates can be a mesh CA's root: what the publisher and the control plane accept.</summary>
public sealed class MeshRootCertificateTests
{
    [Fact]
    public void Unusable_ARootItMade_IsUsable()
    {
        using var root = MeshRootCertificate.Create("cluster.local", DateTimeOffset.UtcNow);

        Assert.Null(MeshRootCertificate.Unusable(root));
    }

    [Theory]
    [InlineData(false, X509KeyUsageFlags.KeyCertSign, "is not a CA certificate (basicConstraints CA:TRUE is missing)")]
    [InlineData(true, X509KeyUsageFlags.DigitalSignature, "may not sign certificates (its keyUsage lacks keyCertSign)")]
    public void Unusable_NotACaOrMayNotSign_SaysWhy(bool ca, X509KeyUsageFlags usage, string reason)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=candidate", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(ca, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddYears(1));

        Assert.Equal($"CN=candidate {reason}", MeshRootCertificate.Unusable(certificate));
    }

    [Fact]
    public void Unusable_WithoutItsPrivateKey_SaysWhy()
    {
        using var root = MeshRootCertificate.Create("cluster.local", DateTimeOffset.UtcNow);
        using var publicOnly = X509CertificateLoader.LoadCertificate(root.RawData);

        Assert.EndsWith("has no ECDSA or RSA private key", MeshRootCertificate.Unusable(publicOnly), StringComparison.Ordinal);
    }
}
