using System.Security.Cryptography;

namespace AspireMesh.Contracts.Security;

/// <summary>
/// What a caller shows the control plane to change the registry (register, heartbeat, deregister an instance) or to
/// report as a proxy, from anywhere but the control plane's own machine: <c>amr1.payload.mac</c>, signed with a key
/// derived from the bootstrap key, so that it never passes for a bootstrap credential nor one for it.
/// <list type="bullet">
/// <item>A proxy gets one with each certificate (<see cref="ResponseHeader"/>), for its own workload and instance,
/// expiring with the certificate.</item>
/// <item>An application that registers itself (a Eureka or Consul client) uses one an operator minted for its service
/// (kind <see cref="ServiceKind"/>, any instance): <c>POST /v1/registration-tokens</c>.</item>
/// </list>
/// </summary>
public static class RegistrationToken
{
    /// <summary>
    /// The response header of <c>POST /v1/certificates</c> that carries the proxy's token. A header, not a member of the
    /// body: proxies of 0.1.0 read that body strictly and would refuse a member they do not know.
    /// </summary>
    public const string ResponseHeader = "X-Mesh-Registration-Token";

    /// <summary>The kind of a token minted for an application's instances (not a proxy's).</summary>
    public const string ServiceKind = "service";

    private static readonly SignedToken Form = new("amr1.", "registration token");

    /// <summary>A token for <paramref name="kind"/>/<paramref name="name"/> (and only <paramref name="instance"/>, when given) until <paramref name="expires"/>.</summary>
    public static string Mint(string bootstrapKey, string kind, string name, string? instance, DateTimeOffset expires) =>
        Form.Mint(Key(bootstrapKey), kind, name, instance, expires);

    /// <summary>Checks the signature and expiry; on failure <paramref name="error"/> says why.</summary>
    public static bool TryVerify(string bootstrapKey, string? token, DateTimeOffset now, out CredentialClaims? claims, out string error) =>
        Form.TryVerify(Key(bootstrapKey), token, now, out claims, out error);

    /// <summary>What <paramref name="token"/> says it is for, without checking its signature (a proxy reads its own kept token).</summary>
    public static CredentialClaims? ReadUnverified(string token) => Form.ReadUnverified(token);

    private static byte[] Key(string bootstrapKey) => HMACSHA256.HashData(Convert.FromBase64String(bootstrapKey), "aspiremesh registration token v1"u8);
}
