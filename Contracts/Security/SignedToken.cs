using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AspireMesh.Contracts.Security;

/// <summary>
/// The form of the mesh's credentials: <c>&lt;prefix&gt;payload.mac</c>, the payload naming a workload
/// (<see cref="CredentialClaims"/>, base64url JSON) and the MAC an HMAC-SHA256 over it. Each kind of credential has its
/// own prefix and key, so one never passes for another.
/// </summary>
internal sealed class SignedToken(string prefix, string noun)
{
    public string Mint(byte[] key, string kind, string name, string? instance, DateTimeOffset expires)
    {
        var claims = new CredentialClaims(kind, name, instance, Convert.ToHexString(RandomNumberGenerator.GetBytes(12)).ToLowerInvariant(), expires.ToUnixTimeSeconds());
        var payload = Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims, CredentialJsonContext.Default.CredentialClaims));
        return $"{prefix}{payload}.{Base64Url(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(payload)))}";
    }

    public bool TryVerify(byte[] key, string? token, DateTimeOffset now, out CredentialClaims? claims, out string error)
    {
        claims = null;
        error = "";
        if (string.IsNullOrEmpty(token))
        {
            error = $"no {noun} was given";
            return false;
        }

        var parts = token.StartsWith(prefix, StringComparison.Ordinal) ? token[prefix.Length..].Split('.') : [];
        if (parts.Length != 2)
        {
            error = $"the {noun} is not in the form {prefix}<payload>.<signature>";
            return false;
        }

        byte[] given;
        byte[] payload;
        try
        {
            given = FromBase64Url(parts[1]);
            payload = FromBase64Url(parts[0]);
        }
        catch (FormatException)
        {
            error = $"the {noun} is not valid base64url";
            return false;
        }

        if (!CryptographicOperations.FixedTimeEquals(given, HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(parts[0]))))
        {
            error = $"the {noun} was not issued for this mesh (unknown signature)";
            return false;
        }

        try
        {
            claims = JsonSerializer.Deserialize(payload, CredentialJsonContext.Default.CredentialClaims);
        }
        catch (JsonException)
        {
            claims = null;
        }

        if (claims is null || string.IsNullOrEmpty(claims.Kind) || string.IsNullOrEmpty(claims.Name) || string.IsNullOrEmpty(claims.Id))
        {
            error = $"the {noun}'s payload is malformed";
            claims = null;
            return false;
        }

        if (DateTimeOffset.FromUnixTimeSeconds(claims.Expires) <= now)
        {
            error = $"the {noun} expired at {DateTimeOffset.FromUnixTimeSeconds(claims.Expires):u}";
            return false;
        }

        return true;
    }

    /// <summary>What <paramref name="token"/> says, without checking its signature: for its holder, to tell what it holds.</summary>
    public CredentialClaims? ReadUnverified(string token)
    {
        var parts = token.StartsWith(prefix, StringComparison.Ordinal) ? token[prefix.Length..].Split('.') : [];
        try
        {
            return parts.Length == 2 ? JsonSerializer.Deserialize(FromBase64Url(parts[0]), CredentialJsonContext.Default.CredentialClaims) : null;
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return null;
        }
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }
}

/// <summary>What a bootstrap credential or a registration token allows.</summary>
/// <param name="Kind"><c>sidecar</c> or <c>gateway</c>; for a registration token minted for an application, <c>service</c>.</param>
/// <param name="Name">The service (or gateway) name.</param>
/// <param name="Instance">The one instance it is for, or null for any instance of the service.</param>
/// <param name="Id">Unique id of the credential.</param>
/// <param name="Expires">Unix seconds after which it is refused.</param>
public sealed record CredentialClaims(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("inst")] string? Instance,
    [property: JsonPropertyName("jti")] string Id,
    [property: JsonPropertyName("exp")] long Expires);

[JsonSerializable(typeof(CredentialClaims))]
internal sealed partial class CredentialJsonContext : JsonSerializerContext;
