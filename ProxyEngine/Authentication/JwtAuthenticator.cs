using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Security;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Authentication;

/// <summary>
/// Accepts a request with <c>Authorization: Bearer</c> and a JWS-signed JWT (RFC 7519) that one of the policy's keys
/// verifies with an allowed algorithm, that has not expired (<c>exp</c> is required), is already valid (<c>nbf</c>), and
/// names the policy's issuer and one of its audiences. The app gets the chosen claims as headers (<c>sub</c> as
/// <c>x-mesh-jwt-sub</c>); the token itself is forwarded unchanged.
/// </summary>
internal sealed class JwtAuthenticator : IAuthenticator
{
    private readonly JwtAuthentication _settings;
    private readonly IReadOnlyList<SigningKey> _keys;
    private readonly JwksKeySource? _jwks;
    private readonly TimeProvider _time;
    private readonly TimeSpan _skew;
    private readonly HashSet<string> _algorithms;
    private readonly (string Claim, string Header)[] _claims;
    private readonly string _challenge;
    private readonly string _subject;

    /// <param name="subject">What requires the token, in messages: "this route", or the service.</param>
    public JwtAuthenticator(JwtAuthentication settings, JwksKeySource? jwks, TimeProvider time, string realm, string subject = "this route")
    {
        _subject = subject;
        _settings = settings;
        _keys = [.. settings.Keys.Select(k => SigningKeyReader.TryRead(k.Field, out _)).OfType<SigningKey>()];
        _jwks = jwks;
        _time = time;
        _skew = MeshDuration.Parse(settings.ClockSkew);
        _algorithms = new HashSet<string>(settings.Algorithms.Count > 0 ? settings.Algorithms : JwtAuthentication.SupportedAlgorithms, StringComparer.Ordinal);
        _claims = [(Claim: "sub", Header: GatewayIdentityHeaders.Subject), .. settings.ClaimsToHeaders.Select(c => (c.Claim, c.Header))];
        IdentityHeaders = [.. _claims.Select(c => c.Header).Distinct(StringComparer.OrdinalIgnoreCase)];
        _challenge = $"Bearer realm=\"{realm}\"";
    }

    public IReadOnlyList<string> IdentityHeaders { get; }

    public async ValueTask<AuthenticationOutcome> AuthenticateAsync(HttpContext context)
    {
        var authorization = context.Request.Headers.Authorization;
        if (authorization.Count == 0)
        {
            return AuthenticationOutcome.Refused($"{_subject} requires a bearer token (Authorization: Bearer <JWT>).", _challenge);
        }

        if (authorization.Count > 1 || authorization[0] is not { } value || !value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Invalid("the Authorization header is not a single 'Bearer <JWT>'.");
        }

        var (error, identity, principal) = await ValidateAsync(value["Bearer ".Length..].Trim(), context.RequestAborted).ConfigureAwait(false);
        return error is null ? AuthenticationOutcome.Success(identity) with { Principal = principal } : Invalid(error);
    }

    private AuthenticationOutcome Invalid(string reason) =>
        AuthenticationOutcome.Refused(reason, $"{_challenge}, error=\"invalid_token\", error_description=\"{reason.Replace('"', '\'')}\"");

    /// <summary>Validates a compact JWS token; returns the reason it is not valid, or the identity headers.</summary>
    internal async ValueTask<(string? Error, IReadOnlyList<KeyValuePair<string, string>> Identity, string? Principal)> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var parts = token.Split('.');
        if (parts.Length != 3 || parts.Any(p => p.Length == 0))
        {
            return ("the bearer token is not a signed JWT (header.payload.signature).", [], null);
        }

        using var header = ParseJson(parts[0]);
        using var payload = ParseJson(parts[1]);
        var signature = Decode(parts[2]);
        if (header is null || payload is null || signature is null)
        {
            return ("the bearer token is not a JWT: a part is not base64url-encoded JSON.", [], null);
        }

        var alg = String(header.RootElement, "alg");
        if (alg is null || !_algorithms.Contains(alg))
        {
            return ($"the token's algorithm '{alg ?? "(none)"}' is not accepted ({string.Join(", ", _algorithms)}).", [], null);
        }

        if (header.RootElement.TryGetProperty("crit", out _))
        {
            return ("the token has critical header parameters (crit), which this gateway does not understand.", [], null);
        }

        var kid = String(header.RootElement, "kid");
        var signed = Encoding.ASCII.GetBytes(token[..(parts[0].Length + 1 + parts[1].Length)]);
        var verified = Verify(_keys, alg, kid, signed, signature);
        if (verified is null && _jwks is not null)
        {
            var keys = await _jwks.KeysAsync(unknownKid: false, cancellationToken).ConfigureAwait(false);
            verified = Verify(keys, alg, kid, signed, signature);
            if (verified is null && kid is not null && !keys.Any(k => k.Kid == kid))
            {
                verified = Verify(await _jwks.KeysAsync(unknownKid: true, cancellationToken).ConfigureAwait(false), alg, kid, signed, signature);
            }
        }

        switch (verified)
        {
            case null:
                return (kid is null ? $"no key of {_subject} has a matching type for the token's signature." : $"no key of {_subject} has the token's key id '{kid}' and algorithm {alg}.", [], null);
            case false:
                return ("the token's signature is not valid.", [], null);
        }

        return CheckClaims(payload.RootElement) is { } claimError ? (claimError, [], null) : (null, Identity(payload.RootElement), Principal(payload.RootElement));
    }

    /// <summary>True when a candidate key verifies the signature, false when candidates exist but none does, null when there are none.</summary>
    private static bool? Verify(IReadOnlyList<SigningKey> keys, string alg, string? kid, byte[] data, byte[] signature)
    {
        bool? result = null;
        foreach (var key in keys)
        {
            if (!key.Fits(alg) || (kid is not null && key.Kid is not null && key.Kid != kid))
            {
                continue;
            }

            if (VerifyWith(key, alg, data, signature))
            {
                return true;
            }

            result = false;
        }

        return result;
    }

    private static bool VerifyWith(SigningKey key, string alg, byte[] data, byte[] signature)
    {
        var hash = alg[2..] switch { "256" => HashAlgorithmName.SHA256, "384" => HashAlgorithmName.SHA384, _ => HashAlgorithmName.SHA512 };
        try
        {
            return alg[..2] switch
            {
                "RS" => key.Rsa!.VerifyData(data, signature, hash, RSASignaturePadding.Pkcs1),
                "PS" => key.Rsa!.VerifyData(data, signature, hash, RSASignaturePadding.Pss),
                "ES" => key.EC!.VerifyData(data, signature, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
                _ => CryptographicOperations.FixedTimeEquals(alg switch
                {
                    "HS256" => HMACSHA256.HashData(key.Secret!, data),
                    "HS384" => HMACSHA384.HashData(key.Secret!, data),
                    _ => HMACSHA512.HashData(key.Secret!, data),
                }, signature),
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private string? CheckClaims(JsonElement claims)
    {
        if (claims.ValueKind != JsonValueKind.Object)
        {
            return "the token's payload is not a JSON object.";
        }

        var now = _time.GetUtcNow();
        if (!TryGetTime(claims, "exp", out var expires))
        {
            return "the token has no expiry (exp).";
        }

        if (now > expires + _skew)
        {
            return $"the token expired at {Format(expires)}.";
        }

        if (claims.TryGetProperty("nbf", out _))
        {
            if (!TryGetTime(claims, "nbf", out var notBefore))
            {
                return "the token's nbf is not a time.";
            }

            if (now + _skew < notBefore)
            {
                return $"the token is not valid before {Format(notBefore)}.";
            }
        }

        if (_settings.Issuer is { } issuer && String(claims, "iss") != issuer)
        {
            return $"the token's issuer '{String(claims, "iss") ?? "(none)"}' is not '{issuer}'.";
        }

        if (_settings.Audiences.Count > 0 && !Audiences(claims).Any(a => _settings.Audiences.Contains(a)))
        {
            return $"the token is not meant for {_subject}: its audience is not one of {string.Join(", ", _settings.Audiences)}.";
        }

        return null;
    }

    /// <summary>
    /// The request principal, as Istio writes it: <c>iss/sub</c> (authorization rules' <c>requestPrincipals</c>). A valid
    /// token always has one, a claim it lacks left empty, so that a Deny rule for its issuer (<c>iss/*</c>) still applies.
    /// </summary>
    private static string Principal(JsonElement claims)
    {
        static string Claim(JsonElement claims, string name) =>
            claims.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";
        return $"{Claim(claims, "iss")}/{Claim(claims, "sub")}";
    }

    private KeyValuePair<string, string>[] Identity(JsonElement claims)
    {
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var (claim, header) in _claims)
        {
            if (claims.TryGetProperty(claim, out var value) && Text(value) is { } text && !text.Any(char.IsControl))
            {
                headers.Add(new(header, text));
            }
        }

        return [.. headers];
    }

    private static string? Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        JsonValueKind.Array when value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String) => string.Join(",", value.EnumerateArray().Select(v => v.GetString())),
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => value.GetRawText(),
    };

    private static IEnumerable<string> Audiences(JsonElement claims)
    {
        if (!claims.TryGetProperty("aud", out var aud))
        {
            return [];
        }

        return aud.ValueKind switch
        {
            JsonValueKind.String => [aud.GetString()!],
            JsonValueKind.Array => aud.EnumerateArray().Where(a => a.ValueKind == JsonValueKind.String).Select(a => a.GetString()!).ToList(),
            _ => [],
        };
    }

    private static bool TryGetTime(JsonElement claims, string name, out DateTimeOffset time)
    {
        time = default;
        if (!claims.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var seconds)
            || seconds is < 0 or > 253402300799)
        {
            return false;
        }

        time = DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000));
        return true;
    }

    private static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static JsonDocument? ParseJson(string part)
    {
        if (Decode(part) is not { } bytes)
        {
            return null;
        }

        try
        {
            var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                return document;
            }

            document.Dispose();
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static byte[]? Decode(string part)
    {
        try
        {
            return Base64Url.DecodeFromChars(part);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
