using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AspireMesh.Gateway.Tls;

/// <summary>
/// A self-signed certificate for <c>localhost</c>, <c>127.0.0.1</c> and <c>::1</c>, generated on first use and kept in
/// the gateway's state directory (<c>dev-certificate.pfx</c>, with its public part as <c>dev-certificate.crt</c> for
/// clients to trust), so it stays the same across restarts. Renewed when it expires within 30 days.
/// </summary>
internal static class DevelopmentCertificate
{
    /// <summary>File name of the certificate with its key.</summary>
    public const string PfxFileName = "dev-certificate.pfx";

    /// <summary>File name of the public certificate (PEM), to trust.</summary>
    public const string CrtFileName = "dev-certificate.crt";

    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(365);
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    /// <summary>Loads the certificate kept in <paramref name="directory"/>, or creates (and keeps) a new one.</summary>
    public static (X509Certificate2 Certificate, string CrtPath, bool Created) LoadOrCreate(string directory, TimeProvider time)
    {
        var pfxPath = Path.Combine(directory, PfxFileName);
        var crtPath = Path.Combine(directory, CrtFileName);
        var now = time.GetUtcNow();
        if (File.Exists(pfxPath))
        {
            try
            {
                var existing = X509CertificateLoader.LoadPkcs12FromFile(pfxPath, null);
                if (existing.HasPrivateKey && existing.NotAfter.ToUniversalTime() - now.UtcDateTime > RenewBefore && File.Exists(crtPath))
                {
                    return (existing, crtPath, false);
                }

                existing.Dispose();
            }
            catch (CryptographicException)
            {
                // Unreadable (e.g. truncated by a crash while writing): replaced below.
            }
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost, O=AspireMesh development gateway", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var created = request.CreateSelfSigned(now.AddMinutes(-5), now.Add(Lifetime));

        Directory.CreateDirectory(directory);
        WritePrivate(pfxPath, created.Export(X509ContentType.Pkcs12));
        File.WriteAllText(crtPath, created.ExportCertificatePem() + "\n");
        return (X509CertificateLoader.LoadPkcs12FromFile(pfxPath, null), crtPath, true);
    }

    /// <summary>Writes a file only its owner can read, replacing any previous one whole.</summary>
    private static void WritePrivate(string path, byte[] content)
    {
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
