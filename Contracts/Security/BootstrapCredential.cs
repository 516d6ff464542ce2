using System.Security.Cryptography;

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

    private static readonly SignedToken Form = new("amb1.", "bootstrap credential");

    /// <summary>A new random bootstrap key, base64.</summary>
    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// A credential for the workload <paramref name="kind"/>/<paramref name="name"/>; <paramref name="instance"/> binds it
    /// to one instance (null: any one instance of the service, each instance once).
    /// </summary>
    public static string Mint(string key, string kind, string name, string? instance, TimeSpan lifetime, TimeProvider? time = null) =>
        Form.Mint(Convert.FromBase64String(key), kind, name, instance, (time ?? TimeProvider.System).GetUtcNow().Add(lifetime));

    /// <summary>Checks the signature and expiry; on failure <paramref name="error"/> says why.</summary>
    public static bool TryVerify(string key, string? credential, DateTimeOffset now, out CredentialClaims? claims, out string error) =>
        Form.TryVerify(Convert.FromBase64String(key), credential, now, out claims, out error);
}
