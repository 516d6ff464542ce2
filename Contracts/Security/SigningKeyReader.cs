using System.Buffers.Text;
using System.Security.Cryptography;

namespace AspireMesh.Contracts.Security;

/// <summary>A key that verifies JWT signatures: RSA, ECDsa (with its curve's algorithm) or an HMAC secret.</summary>
/// <param name="Kid">Key id, or null.</param>
/// <param name="Alg">The only algorithm it may verify, or null for any of its type.</param>
public sealed record SigningKey(string? Kid, string? Alg, RSA? Rsa, ECDsa? EC, byte[]? Secret)
{
    /// <summary>Whether this key can verify a signature made with <paramref name="alg"/>.</summary>
    public bool Fits(string alg)
    {
        ArgumentNullException.ThrowIfNull(alg);
        if (Alg is not null && Alg != alg)
        {
            return false;
        }

        return alg[..2] switch
        {
            "RS" or "PS" => Rsa is not null,
            "HS" => Secret is not null,
            "ES" => EC is not null && EC.KeySize == alg switch { "ES256" => 256, "ES384" => 384, _ => 521 },
            _ => false,
        };
    }
}

/// <summary>Reads signing keys from JSON Web Key fields (RFC 7517/7518) or PEM.</summary>
public static class SigningKeyReader
{
    /// <summary>
    /// Reads one key from JWK fields (<paramref name="field"/> returns a member's value or null), or from a PEM public key
    /// when the <c>pem</c> field is set. Returns null and the problem when the key is unusable.
    /// </summary>
    public static SigningKey? TryRead(Func<string, string?> field, out string? error)
    {
        ArgumentNullException.ThrowIfNull(field);
        error = null;
        var kid = field("kid");
        var alg = field("alg");
        if (field("use") is { } use && use != "sig")
        {
            error = $"use '{use}' is not 'sig'.";
            return null;
        }

        if (field("pem") is { } pem)
        {
            return ReadPem(pem, kid, alg, out error);
        }

        try
        {
            switch (field("kty"))
            {
                case "RSA":
                    if (Bytes(field("n")) is not { Length: >= 128 } n || Bytes(field("e")) is not { Length: > 0 } e)
                    {
                        error = "an RSA key needs n (at least 1024 bits) and e, base64url-encoded.";
                        return null;
                    }

                    return new SigningKey(kid, alg, RSA.Create(new RSAParameters { Modulus = n, Exponent = e }), null, null);
                case "EC":
                    var curve = field("crv") switch
                    {
                        "P-256" => ECCurve.NamedCurves.nistP256,
                        "P-384" => ECCurve.NamedCurves.nistP384,
                        "P-521" => ECCurve.NamedCurves.nistP521,
                        _ => (ECCurve?)null,
                    };
                    if (curve is null || Bytes(field("x")) is not { Length: > 0 } x || Bytes(field("y")) is not { Length: > 0 } y)
                    {
                        error = "an EC key needs crv (P-256, P-384 or P-521), x and y, base64url-encoded.";
                        return null;
                    }

                    return new SigningKey(kid, alg, null, ECDsa.Create(new ECParameters { Curve = curve.Value, Q = new ECPoint { X = x, Y = y } }), null);
                case "oct":
                    if (Bytes(field("k")) is not { Length: >= 32 } k)
                    {
                        error = "an oct key needs k, base64url-encoded, of at least 256 bits.";
                        return null;
                    }

                    return new SigningKey(kid, alg, null, null, k);
                case var kty:
                    error = kty is null ? "a key needs kty (RSA, EC or oct) or pem." : $"kty '{kty}' is not RSA, EC or oct.";
                    return null;
            }
        }
        catch (CryptographicException ex)
        {
            error = $"not a valid key: {ex.Message}";
            return null;
        }
    }

    private static SigningKey? ReadPem(string pem, string? kid, string? alg, out string? error)
    {
        error = null;
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            return new SigningKey(kid, alg, rsa, null, null);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            rsa.Dispose();
        }

        var ec = ECDsa.Create();
        try
        {
            ec.ImportFromPem(pem);
            return new SigningKey(kid, alg, null, ec, null);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            ec.Dispose();
            error = $"pem is not an RSA or EC public key: {ex.Message}";
            return null;
        }
    }

    private static byte[]? Bytes(string? base64Url)
    {
        if (base64Url is null)
        {
            return null;
        }

        try
        {
            return Base64Url.DecodeFromChars(base64Url);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
