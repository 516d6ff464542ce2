using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AspireMesh.TestSupport;

/// <summary>Signs JWTs for tests, as an identity provider would (RS256, ES256, HS256, or unsigned).</summary>
public static class TestTokens
{
    public static string Sign(object header, object payload, Func<byte[], byte[]> sign)
    {
        var signed = $"{Encode(JsonSerializer.SerializeToUtf8Bytes(header))}.{Encode(JsonSerializer.SerializeToUtf8Bytes(payload))}";
        return $"{signed}.{Encode(sign(Encoding.ASCII.GetBytes(signed)))}";
    }

    public static string Rs256(RSA key, string? kid, object payload) =>
        Sign(new Dictionary<string, string?> { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = kid }, payload, data => key.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));

    public static string Es256(ECDsa key, string kid, object payload) =>
        Sign(new { alg = "ES256", typ = "JWT", kid }, payload, data => key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));

    public static string Hs256(byte[] secret, object payload) =>
        Sign(new { alg = "HS256", typ = "JWT" }, payload, data => HMACSHA256.HashData(secret, data));

    public static string Unsigned(object payload) => Sign(new { alg = "none", typ = "JWT" }, payload, _ => []);

    /// <summary>Claims valid now for the tests' issuer and audience, with <paramref name="changes"/> applied (null removes a claim).</summary>
    public static Dictionary<string, object?> Claims(params (string Name, object? Value)[] changes)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var claims = new Dictionary<string, object?>
        {
            ["iss"] = "https://issuer.test",
            ["aud"] = "aspiremesh",
            ["sub"] = "alice",
            ["email"] = "alice@example.test",
            ["iat"] = now,
            ["exp"] = now + 600,
        };
        foreach (var (name, value) in changes)
        {
            if (value is null)
            {
                claims.Remove(name);
            }
            else
            {
                claims[name] = value;
            }
        }

        return claims;
    }

    public static string Encode(byte[] bytes) => Base64Url.EncodeToString(bytes);

    /// <summary>The public part of <paramref name="key"/> as a JWK (RSA).</summary>
    public static Dictionary<string, string> Jwk(RSA key, string kid)
    {
        var p = key.ExportParameters(false);
        return new() { ["kty"] = "RSA", ["kid"] = kid, ["alg"] = "RS256", ["use"] = "sig", ["n"] = Encode(p.Modulus!), ["e"] = Encode(p.Exponent!) };
    }

    /// <summary>The public part of <paramref name="key"/> as a JWK (EC P-256).</summary>
    public static Dictionary<string, string> Jwk(ECDsa key, string kid)
    {
        var p = key.ExportParameters(false);
        return new() { ["kty"] = "EC", ["kid"] = kid, ["crv"] = "P-256", ["x"] = Encode(p.Q.X!), ["y"] = Encode(p.Q.Y!) };
    }
}
