using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AspireMesh.Contracts.Security;

/// <summary>
/// What a proxy shows the control plane to get its first certificate: <c>amb1.payload.mac</c>, the payload naming the
/// workload it may get an identity for, signed (HMAC-SHA256) with the mesh's bootstrap key. The AppHost mints one per
/// proxy it starts; a published topology keeps them in a Kubernetes Secret. Each is good for one instance, once.
/// </summary>
public static class BootstrapCredential
{
    /// <summary>The environment variable a proxy reads its credential from.</summary>
    public const string EnvironmentVariable = "ASPIREMESH_BOOTSTRAP_TOKEN";

    /// <summary>The environment variable the control plane reads the bootstrap key from (base64, 32 bytes or more).</summary>
    public const string KeyEnvironmentVariable = "ASPIREMESH_BOOTSTRAP_KEY";

    private const string Prefix = "amb1.";

    /// <summary>A new random bootstrap key, base64.</summary>
    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// A credential for the workload <paramref name="kind"/>/<paramref name="name"/>; <paramref name="instance"/> binds it
    /// to one instance (null: any one instance of the service, each instance once).
    /// </summary>
    public static string Mint(string key, string kind, string name, string? instance, TimeSpan lifetime, TimeProvider? time = null)
    {
        var claims = new BootstrapClaims(kind, name, instance, Convert.ToHexString(RandomNumberGenerator.GetBytes(12)).ToLowerInvariant(),
            (time ?? TimeProvider.System).GetUtcNow().Add(lifetime).ToUnixTimeSeconds());
        var payload = Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims, BootstrapJsonContext.Default.BootstrapClaims));
        return $"{Prefix}{payload}.{Base64Url(Mac(key, payload))}";
    }

    /// <summary>Checks the signature and expiry; on failure <paramref name="error"/> says why.</summary>
    public static bool TryVerify(string key, string? credential, DateTimeOffset now, out BootstrapClaims? claims, out string error)
    {
        claims = null;
        error = "";
        if (string.IsNullOrEmpty(credential))
        {
            error = "no bootstrap credential was given";
            return false;
        }

        var parts = credential.StartsWith(Prefix, StringComparison.Ordinal) ? credential[Prefix.Length..].Split('.') : [];
        if (parts.Length != 2)
        {
            error = "the bootstrap credential is not in the form amb1.<payload>.<signature>";
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
            error = "the bootstrap credential is not valid base64url";
            return false;
        }

        if (!CryptographicOperations.FixedTimeEquals(given, Mac(key, parts[0])))
        {
            error = "the bootstrap credential was not issued for this mesh (unknown signature)";
            return false;
        }

        try
        {
            claims = JsonSerializer.Deserialize(payload, BootstrapJsonContext.Default.BootstrapClaims);
        }
        catch (JsonException)
        {
            claims = null;
        }

        if (claims is null || string.IsNullOrEmpty(claims.Name) || string.IsNullOrEmpty(claims.Id))
        {
            error = "the bootstrap credential's payload is malformed";
            claims = null;
            return false;
        }

        if (DateTimeOffset.FromUnixTimeSeconds(claims.Expires) <= now)
        {
            error = $"the bootstrap credential expired at {DateTimeOffset.FromUnixTimeSeconds(claims.Expires):u}";
            return false;
        }

        return true;
    }

    private static byte[] Mac(string key, string payload) =>
        HMACSHA256.HashData(Convert.FromBase64String(key), Encoding.ASCII.GetBytes(payload));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }
}

/// <summary>What a bootstrap credential allows.</summary>
/// <param name="Kind"><c>sidecar</c> or <c>gateway</c>.</param>
/// <param name="Name">The service (or gateway) name.</param>
/// <param name="Instance">The one instance it is for, or null for any instance of the service (each once).</param>
/// <param name="Id">Unique id of the credential.</param>
/// <param name="Expires">Unix seconds after which it is refused.</param>
public sealed record BootstrapClaims(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("inst")] string? Instance,
    [property: JsonPropertyName("jti")] string Id,
    [property: JsonPropertyName("exp")] long Expires);

[JsonSerializable(typeof(BootstrapClaims))]
internal sealed partial class BootstrapJsonContext : JsonSerializerContext;
