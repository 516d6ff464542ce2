using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AspireMesh.Gateway.Tls;

/// <summary>Loads the certificate the gateway serves HTTPS with, from files the user names.</summary>
internal static class ServerCertificate
{
    /// <summary>
    /// A PKCS#12 file (<c>.pfx</c>/<c>.p12</c>, with <paramref name="password"/>), or a PEM certificate with its key in
    /// <paramref name="keyPath"/> or in the same file. Throws <see cref="InvalidOperationException"/> saying what is wrong.
    /// </summary>
    public static X509Certificate2 Load(string path, string? keyPath, string? password)
    {
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"--certificate: '{path}' does not exist.");
        }

        if (keyPath is not null && !File.Exists(keyPath))
        {
            throw new InvalidOperationException($"--certificate-key: '{keyPath}' does not exist.");
        }

        X509Certificate2 certificate;
        try
        {
            var extension = Path.GetExtension(path).ToLowerInvariant();
            certificate = extension is ".pfx" or ".p12"
                ? X509CertificateLoader.LoadPkcs12FromFile(path, password)
                : password is null ? X509Certificate2.CreateFromPemFile(path, keyPath) : X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException($"--certificate: cannot load '{path}'{(keyPath is null ? "" : $" with the key '{keyPath}'")}: {ex.Message}", ex);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new InvalidOperationException($"--certificate: '{path}' has no private key; give it with --certificate-key.");
        }

        return certificate;
    }
}
