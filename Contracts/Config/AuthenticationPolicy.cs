namespace AspireMesh.Contracts.Config;

/// <summary>
/// A credential that a gateway requires of clients before forwarding: a JWT (<c>Authorization: Bearer</c>) or an API key.
/// Targets a gateway (every route attached to it) or one route attached to a gateway; a route's own policy replaces its
/// gateway's.
/// </summary>
public sealed record AuthenticationPolicy
{
    /// <summary>Unique policy name.</summary>
    public string Name { get; set; } = "";

    /// <summary><c>{kind: Gateway, name}</c> or <c>{kind: Route, name}</c>.</summary>
    public PolicyTarget TargetRef { get; set; } = new();

    /// <summary><see cref="AuthenticationTypes.Jwt"/> or <see cref="AuthenticationTypes.ApiKey"/>.</summary>
    public string Type { get; set; } = AuthenticationTypes.Jwt;

    /// <summary>For <see cref="AuthenticationTypes.Jwt"/>: how tokens are validated.</summary>
    public JwtAuthentication? Jwt { get; set; }

    /// <summary>For <see cref="AuthenticationTypes.ApiKey"/>: where the key is and which keys are valid.</summary>
    public ApiKeyAuthentication? ApiKey { get; set; }
}

/// <summary>
/// The request headers in which a gateway tells an app who its client proved to be: <see cref="Subject"/>,
/// <see cref="ApiKeyName"/> and the headers JWT policies name in <c>claimsToHeaders</c>. An app can believe them only
/// because nobody else can set them: a gateway removes them from its clients' requests, and a sidecar removes them from
/// every caller that is not a gateway with a proven mesh identity.
/// </summary>
public static class GatewayIdentityHeaders
{
    /// <summary>The token's <c>sub</c> claim, after a JWT policy accepted the token.</summary>
    public const string Subject = "x-mesh-jwt-sub";

    /// <summary>The name of the API key an API-key policy accepted.</summary>
    public const string ApiKeyName = "x-mesh-api-key";

    /// <summary>The headers every gateway may set, whatever the policies.</summary>
    public static readonly IReadOnlyList<string> BuiltIn = [Subject, ApiKeyName];

    /// <summary>
    /// <c>x-</c> headers that already mean something to proxies or apps: forwarding, client certificates, trace and
    /// request ids, method overrides, API keys, SPIFFE identities, and the mesh's own (<c>x-mesh-jwt-*</c> apart from
    /// <see cref="Subject"/> is for claims).
    /// </summary>
    private static readonly string[] ReservedPrefixes = ["x-forwarded-", "x-spiffe-", "x-b3-", "x-mesh-"];

    private static readonly HashSet<string> ReservedNames = new(["x-real-ip", "x-client-cert", "x-ssl-client-cert", "x-request-id", "x-http-method-override", "x-api-key"],
        StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Whether a JWT policy may pass a claim to apps in <paramref name="header"/>: an <c>x-</c> header of its own, so
    /// never one of HTTP's (<c>Host</c>, <c>Authorization</c>, <c>Content-*</c>, <c>traceparent</c>, ...) nor one of
    /// <see cref="ReservedPrefixes"/> and <see cref="ReservedNames"/>. A claim written into a header that already means
    /// something would change the request for every proxy and app after the gateway, and every sidecar removes the
    /// claim headers from callers other than gateways, which would take that header off every call between services.
    /// </summary>
    public static bool IsAllowedForClaims(string header)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (!header.StartsWith("x-", StringComparison.OrdinalIgnoreCase) || ReservedNames.Contains(header) || string.Equals(header, Subject, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return header.StartsWith("x-mesh-jwt-", StringComparison.OrdinalIgnoreCase)
            || !ReservedPrefixes.Any(prefix => header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The headers the gateways of a mesh with these authentication policies may set, lower case, sorted.</summary>
    public static IReadOnlyList<string> Of(IEnumerable<AuthenticationPolicy> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var names = new SortedSet<string>(BuiltIn, StringComparer.Ordinal);
        foreach (var policy in policies)
        {
            foreach (var mapping in policy.Jwt?.ClaimsToHeaders ?? [])
            {
                names.Add(mapping.Header.ToLowerInvariant());
            }
        }

        return [.. names];
    }
}

/// <summary>Authentication policy types.</summary>
public static class AuthenticationTypes
{
    /// <summary>A signed JSON Web Token in <c>Authorization: Bearer</c>.</summary>
    public const string Jwt = "Jwt";

    /// <summary>A secret key in a request header.</summary>
    public const string ApiKey = "ApiKey";
}

/// <summary>How a gateway validates JSON Web Tokens.</summary>
public sealed record JwtAuthentication
{
    /// <summary>The required <c>iss</c> claim; any issuer when null.</summary>
    public string? Issuer { get; set; }

    /// <summary>Accepted <c>aud</c> values (the token needs one of them); any audience when empty.</summary>
    public IReadOnlyList<string> Audiences { get; set; } = [];

    /// <summary>Signing keys given inline (JWK fields, or a PEM public key).</summary>
    public IReadOnlyList<JsonWebKeyConfig> Keys { get; set; } = [];

    /// <summary>A JWKS document's http(s) URL; fetched by the gateway, cached, fetched again for an unknown <c>kid</c>.</summary>
    public string? JwksUri { get; set; }

    /// <summary>Accepted signature algorithms; default every one supported (RS*, PS*, ES*, and HS* for symmetric keys).</summary>
    public IReadOnlyList<string> Algorithms { get; set; } = [];

    /// <summary>Tolerance for <c>exp</c> and <c>nbf</c>, e.g. <c>60s</c> (the default).</summary>
    public string ClockSkew { get; set; } = "60s";

    /// <summary>
    /// Claims passed to the app as request headers, besides <c>sub</c> as <c>x-mesh-jwt-sub</c>. Every sidecar of the mesh
    /// removes these headers from callers that are not gateways (<see cref="GatewayIdentityHeaders"/>).
    /// </summary>
    public IReadOnlyList<ClaimToHeader> ClaimsToHeaders { get; set; } = [];

    /// <summary>Signature algorithms a gateway verifies.</summary>
    public static readonly IReadOnlyList<string> SupportedAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256", "HS384", "HS512"];
}

/// <summary>
/// A signing key as a JSON Web Key (RFC 7517: <c>kty</c> RSA with <c>n</c>, <c>e</c>; EC with <c>crv</c>, <c>x</c>, <c>y</c>; oct
/// with <c>k</c>), or a PEM public key in <see cref="Pem"/>.
/// </summary>
public sealed record JsonWebKeyConfig
{
    /// <summary>Key id, matched against the token's <c>kid</c>.</summary>
    public string? Kid { get; set; }

    /// <summary>Key type: <c>RSA</c>, <c>EC</c> or <c>oct</c>; not needed with <see cref="Pem"/>.</summary>
    public string? Kty { get; set; }

    /// <summary>The one algorithm this key may be used with.</summary>
    public string? Alg { get; set; }

    /// <summary>Intended use (<c>sig</c>).</summary>
    public string? Use { get; set; }

    /// <summary>RSA modulus (base64url).</summary>
    public string? N { get; set; }

    /// <summary>RSA exponent (base64url).</summary>
    public string? E { get; set; }

    /// <summary>EC curve: <c>P-256</c>, <c>P-384</c> or <c>P-521</c>.</summary>
    public string? Crv { get; set; }

    /// <summary>EC x coordinate (base64url).</summary>
    public string? X { get; set; }

    /// <summary>EC y coordinate (base64url).</summary>
    public string? Y { get; set; }

    /// <summary>Symmetric key (base64url), for HS* algorithms.</summary>
    public string? K { get; set; }

    /// <summary>A PEM public key (<c>-----BEGIN PUBLIC KEY-----</c>, RSA or EC).</summary>
    public string? Pem { get; set; }

    /// <summary>A member by its JSON name (<c>kty</c>, <c>n</c>, ...), or null.</summary>
    public string? Field(string name) => name switch
    {
        "kid" => Kid,
        "kty" => Kty,
        "alg" => Alg,
        "use" => Use,
        "n" => N,
        "e" => E,
        "crv" => Crv,
        "x" => X,
        "y" => Y,
        "k" => K,
        "pem" => Pem,
        _ => null,
    };
}

/// <summary>A claim passed to the app as a header.</summary>
public sealed record ClaimToHeader
{
    /// <summary>Claim name, e.g. <c>email</c>.</summary>
    public string Claim { get; set; } = "";

    /// <summary>Header name, e.g. <c>x-mesh-jwt-email</c>.</summary>
    public string Header { get; set; } = "";
}

/// <summary>API keys a gateway accepts.</summary>
public sealed record ApiKeyAuthentication
{
    /// <summary>Request header holding the key (default <c>x-api-key</c>); removed before forwarding.</summary>
    public string Header { get; set; } = "x-api-key";

    /// <summary>Valid keys, as SHA-256 hashes, each with a name passed to the app.</summary>
    public IReadOnlyList<ApiKeyEntry> Keys { get; set; } = [];

    /// <summary>An environment variable of the gateway process holding more valid keys, comma-separated (named after the variable).</summary>
    public string? EnvironmentVariable { get; set; }
}

/// <summary>One valid API key, by the hash of its value.</summary>
public sealed record ApiKeyEntry
{
    /// <summary>Name passed to the app in <c>x-mesh-api-key</c>, e.g. the client's name.</summary>
    public string Name { get; set; } = "";

    /// <summary>SHA-256 of the key, 64 hex digits (e.g. <c>printf %s "$KEY" | sha256sum</c>).</summary>
    public string Sha256 { get; set; } = "";
}
