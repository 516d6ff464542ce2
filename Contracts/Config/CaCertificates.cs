using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AspireMesh.Contracts.Config;

/// <summary>Reads the certificate-authority bundles that egress policies name (<see cref="EgressPolicy.CaCertificate"/>).</summary>
public static class CaCertificates
{
    /// <summary>Whether <paramref name="value"/> is PEM text rather than a path.</summary>
    public static bool IsPem(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.TrimStart().StartsWith("-----BEGIN", StringComparison.Ordinal);
    }

    /// <summary>The certificates in PEM <paramref name="pem"/>, or null with the reason when it holds none or is malformed.</summary>
    public static X509Certificate2Collection? Parse(string pem, out string? error)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            error = ex.Message;
            return null;
        }

        if (certificates.Count == 0)
        {
            error = "no -----BEGIN CERTIFICATE----- block was found.";
            return null;
        }

        error = null;
        return certificates;
    }

    /// <summary>
    /// The certificates of <paramref name="value"/>: PEM text, or the absolute path of a PEM file, which is read now.
    /// Null with the reason when it cannot be read or holds no certificate.
    /// </summary>
    public static X509Certificate2Collection? Load(string value, out string? error)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (IsPem(value))
        {
            return Parse(value, out error);
        }

        string text;
        try
        {
            text = File.ReadAllText(value);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error = $"cannot read '{value}': {ex.Message}";
            return null;
        }

        var certificates = Parse(text, out var parseError);
        error = certificates is null ? $"'{value}' holds no usable certificate: {parseError}" : null;
        return certificates;
    }
}
