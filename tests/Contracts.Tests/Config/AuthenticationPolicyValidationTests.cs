using System.Buffers.Text;
using System.Security.Cryptography;
using AspireMesh.Contracts.Config;

namespace AspireMesh.Contracts.Tests.Config;

/// <summary>Validation of <c>policies.authentication</c>: every mistake reported with its path.</summary>
public sealed class AuthenticationPolicyValidationTests
{
    private static MeshConfig With(params AuthenticationPolicy[] policies) => new()
    {
        Services = [new() { Name = "api" }],
        Routes =
        [
            new() { Name = "public", ParentRefs = [new() { Name = "edge" }], Rules = [new() { BackendRefs = [new() { Name = "api" }] }] },
            new() { Name = "internal", ParentRefs = [new() { Kind = "Service", Name = "api" }], Rules = [new() { BackendRefs = [new() { Name = "api" }] }] },
        ],
        Policies = new() { Authentication = policies },
    };

    private static string Rsa()
    {
        using var rsa = RSA.Create(2048);
        return rsa.ExportSubjectPublicKeyInfoPem();
    }

    [Fact]
    public void Validate_JwtAndApiKeyPolicies_NoErrors()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var q = ec.ExportParameters(false).Q;
        var config = With(
            new() { Name = "edge-jwt", TargetRef = new() { Kind = "Gateway", Name = "edge" }, Type = "Jwt", Jwt = new() { Issuer = "https://id.example", Audiences = ["api"], Keys = [new() { Pem = Rsa() }, new() { Kty = "EC", Crv = "P-256", X = Base64Url.EncodeToString(q.X), Y = Base64Url.EncodeToString(q.Y), Kid = "ec" }] } },
            new() { Name = "public-keys", TargetRef = new() { Kind = "Route", Name = "public" }, Type = "ApiKey", ApiKey = new() { Keys = [new() { Name = "partner", Sha256 = new string('a', 64) }] } },
            new() { Name = "jwks", TargetRef = new() { Kind = "Gateway", Name = "edge" }, Type = "Jwt", Jwt = new() { JwksUri = "https://id.example/.well-known/jwks.json" } });

        var errors = MeshConfigValidator.Validate(config).Select(e => e.ToString()).ToList();

        Assert.Equal(["policies.authentication[2].targetRef: Gateway 'edge' already has authentication policy 'edge-jwt'."], errors);
    }

    [Fact]
    public void Validate_ServiceTarget_DeclaredServiceOnlyOncePerServiceJwtOnly()
    {
        var key = new JsonWebKeyConfig { Kty = "oct", K = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)) };
        var config = With(
            new() { Name = "api-jwt", TargetRef = new() { Kind = "Service", Name = "api" }, Type = "Jwt", Jwt = new() { Issuer = "https://id.example", Keys = [key] } },
            new() { Name = "api-jwt-2", TargetRef = new() { Kind = "Service", Name = "api" }, Type = "Jwt", Jwt = new() { Issuer = "https://id.example", Keys = [key] } },
            new() { Name = "ghost", TargetRef = new() { Kind = "Service", Name = "payments" }, Type = "Jwt", Jwt = new() { Issuer = "https://id.example", Keys = [key] } },
            new() { Name = "keys", TargetRef = new() { Kind = "Service", Name = "api" }, Type = "ApiKey", ApiKey = new() { EnvironmentVariable = "API_KEYS" } });

        var errors = MeshConfigValidator.Validate(config).Select(e => e.ToString()).ToList();

        Assert.Equal(
        [
            "policies.authentication[1].targetRef: Service 'api' already has authentication policy 'api-jwt'.",
            "policies.authentication[2].targetRef.name: 'payments' is not a declared service.",
            "policies.authentication[3].type: an ApiKey policy cannot target service 'api': API keys are checked by gateways (target a Gateway or Route); a service takes Jwt.",
            "policies.authentication[3].targetRef: Service 'api' already has authentication policy 'api-jwt'.",
        ], errors);
    }

    [Fact]
    public void Validate_AuthenticationMistakes_EachReportedWithItsPath()
    {
        var config = With(
            new() { Name = "no-gateway", TargetRef = new() { Kind = "Gateway", Name = "nowhere" }, Type = "Jwt", Jwt = new() { JwksUri = "ftp://keys" } },
            new() { Name = "east-west", TargetRef = new() { Kind = "Route", Name = "internal" }, Type = "ApiKey", ApiKey = new() { Header = "bad header", Keys = [new() { Name = "a", Sha256 = "secret-in-clear" }] } },
            new() { Name = "service", TargetRef = new() { Kind = "Mesh", Name = "api" }, Type = "Basic" },
            new() { Name = "broken-keys", TargetRef = new() { Kind = "Route", Name = "public" }, Type = "Jwt",
                Jwt = new() { Keys = [new() { Kty = "RSA", N = "AQAB", E = "AQAB" }, new() { Pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }, new() { Kty = "oct", K = "c2hvcnQ" }], Algorithms = ["none"], ClockSkew = "soon", ClaimsToHeaders = [new() { Claim = "", Header = "x y" }] } },
            new() { Name = "empty", TargetRef = new() { Kind = "Route", Name = "missing" }, Type = "Jwt" });

        var errors = MeshConfigValidator.Validate(config).Select(e => e.ToString()).ToList();

        Assert.Equal(
        [
            "policies.authentication[0].targetRef.name: no route attaches to gateway 'nowhere'.",
            "policies.authentication[0].jwt.jwksUri: 'ftp://keys' is not an absolute http(s) URL.",
            "policies.authentication[1].targetRef.name: route 'internal' attaches to no gateway; authentication is enforced by gateways.",
            "policies.authentication[1].apiKey.header: 'bad header' is not a header name.",
            "policies.authentication[1].apiKey.keys[0].sha256: not a SHA-256 hash: give 64 hex digits (printf %s \"$KEY\" | sha256sum), never the key itself.",
            "policies.authentication[2].targetRef.kind: 'Mesh' cannot be targeted here; use Gateway, Route or Service.",
            "policies.authentication[2].type: 'Basic' is not Jwt or ApiKey.",
            "policies.authentication[3].jwt.keys[0]: an RSA key needs n (at least 1024 bits) and e, base64url-encoded.",
            errors[8],
            "policies.authentication[3].jwt.keys[2]: an oct key needs k, base64url-encoded, of at least 256 bits.",
            "policies.authentication[3].jwt.algorithms[0]: 'none' is not a supported algorithm (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, HS256, HS384, HS512).",
            "policies.authentication[3].jwt.clockSkew: 'soon' is not a duration such as 10s, 250ms or 1m30s.",
            "policies.authentication[3].jwt.claimsToHeaders[0].claim: a claim name is needed.",
            "policies.authentication[3].jwt.claimsToHeaders[0].header: 'x y' is not a header name.",
            "policies.authentication[4].targetRef.name: 'missing' is not a declared route.",
            "policies.authentication[4].jwt: a Jwt policy needs jwt settings (keys or jwksUri).",
        ], errors);
        Assert.StartsWith("policies.authentication[3].jwt.keys[1]: pem is not an RSA or EC public key", errors[8], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Authorization")]
    [InlineData("host")]
    [InlineData("cookie")]
    [InlineData("content-length")]
    [InlineData("traceparent")]
    [InlineData("X-Forwarded-For")]
    [InlineData("x-forwarded-client-cert")]
    [InlineData("x-mesh-source")]
    [InlineData("x-mesh-api-key")]
    [InlineData("x-mesh-jwt-sub")]
    [InlineData("grpc-timeout")]
    [InlineData("Accept-Encoding")]
    [InlineData("x-spiffe-id")]
    [InlineData("x-client-cert")]
    [InlineData("x-b3-traceid")]
    public void Validate_ClaimIntoAHeaderThatAlreadyMeansSomething_Refused(string header)
    {
        var config = With(new AuthenticationPolicy
        {
            Name = "edge-jwt", TargetRef = new() { Kind = "Gateway", Name = "edge" },
            Jwt = new() { JwksUri = "https://id.example/jwks", ClaimsToHeaders = [new() { Claim = "email", Header = "x-user-email" }, new() { Claim = "Email", Header = header }] },
        });

        var errors = MeshConfigValidator.Validate(config).Select(e => e.ToString()).ToList();

        Assert.Equal([$"policies.authentication[0].jwt.claimsToHeaders[1].header: '{header}' already means something to HTTP or to the mesh; pass the claim in an x- header of its own, e.g. x-mesh-jwt-email."], errors);
    }

    [Fact]
    public void Validate_ClaimIntoAnApiKeyHeader_RefusedNamingThePolicy_AndClaimHeadersOfTheirOwnAccepted()
    {
        var config = With(
            new AuthenticationPolicy { Name = "partner-keys", TargetRef = new() { Kind = "Route", Name = "public" }, Type = "ApiKey", ApiKey = new() { Header = "X-Partner-Key", Keys = [new() { Name = "p", Sha256 = new string('a', 64) }] } },
            new AuthenticationPolicy
            {
                Name = "edge-jwt", TargetRef = new() { Kind = "Gateway", Name = "edge" },
                Jwt = new() { JwksUri = "https://id.example/jwks", ClaimsToHeaders = [new() { Claim = "email", Header = "x-mesh-jwt-email" }, new() { Claim = "tenant", Header = "X-Tenant" }, new() { Claim = "partner", Header = "x-partner-key" }] },
            });

        var errors = MeshConfigValidator.Validate(config).Select(e => e.ToString()).ToList();

        Assert.Equal(["policies.authentication[1].jwt.claimsToHeaders[2].header: 'x-partner-key' is where authentication policy 'partner-keys' takes API keys; pass the claim in an x- header of its own, e.g. x-mesh-jwt-partner."], errors);
    }

    [Fact]
    public void Parse_YamlAuthenticationPolicy_ReadIntoTheModel()
    {
        var yaml = """
            services: [{ name: api }]
            routes:
              - name: public
                parentRefs: [{ name: edge }]
                rules: [{ backendRefs: [{ name: api }] }]
            policies:
              authentication:
                - name: partners
                  targetRef: { kind: Route, name: public }
                  type: ApiKey
                  apiKey:
                    header: x-partner-key
                    keys: [{ name: acme, sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae }]
                    environmentVariable: PARTNER_KEYS
            """;

        var result = MeshConfigParser.Parse(yaml, ConfigFormat.Yaml);

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        var policy = Assert.Single(result.Config!.Policies.Authentication);
        Assert.Equal("x-partner-key", policy.ApiKey!.Header);
        Assert.Equal("acme", Assert.Single(policy.ApiKey.Keys).Name);
        Assert.Equal("PARTNER_KEYS", policy.ApiKey.EnvironmentVariable);
    }

    [Fact]
    public void Validate_RequestPrincipals_NeedTheServicesJwtPolicyAndIssuerSlashSubject()
    {
        var key = new JsonWebKeyConfig { Kty = "oct", K = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)) };
        var config = With(new AuthenticationPolicy { Name = "api-jwt", TargetRef = new() { Kind = "Service", Name = "api" }, Type = "Jwt", Jwt = new() { Issuer = "https://id.example", Keys = [key] } }) with
        {
            Services = [new() { Name = "api" }, new() { Name = "other" }],
        };
        config.Policies.Authorization =
        [
            new()
            {
                Name = "api-users", TargetRef = new() { Name = "api" },
                Rules = [new() { RequestPrincipals = ["https://id.example/alice", "https://id.example/*", "*", "alice", "https://*/bob", "https://id.example*", "https://other.example/carol"] }],
            },
            new() { Name = "other-users", TargetRef = new() { Name = "other" }, Rules = [new() { RequestPrincipals = ["https://id.example/alice"] }] },
        ];

        var errors = MeshConfigValidator.Validate(config).Select(e => e.ToString()).ToList();

        Assert.Equal(
        [
            "policies.authorization[0].rules[0].requestPrincipals[3]: 'alice' is not issuer/subject (e.g. https://login.example.com/alice, or https://login.example.com/* for any user of that issuer).",
            "policies.authorization[0].rules[0].requestPrincipals[4]: 'https://*/bob' has a '*' before its end; only a trailing '*' (any suffix) is supported.",
            "policies.authorization[0].rules[0].requestPrincipals[5]: 'https://id.example*' ends in '*' but not in '/*': write issuer/* for any user of an issuer, or * for any user.",
            "policies.authorization[0].rules[0].requestPrincipals[3]: 'alice' is not of issuer 'https://id.example', the only one service 'api' accepts tokens from.",
            "policies.authorization[0].rules[0].requestPrincipals[4]: 'https://*/bob' is not of issuer 'https://id.example', the only one service 'api' accepts tokens from.",
            "policies.authorization[0].rules[0].requestPrincipals[5]: 'https://id.example*' is not of issuer 'https://id.example', the only one service 'api' accepts tokens from.",
            "policies.authorization[0].rules[0].requestPrincipals[6]: 'https://other.example/carol' is not of issuer 'https://id.example', the only one service 'api' accepts tokens from.",
            "policies.authorization[1].rules[0].requestPrincipals: service 'other' has no Jwt authentication policy (targetRef: { kind: Service, name: other }), so no request to it has a principal.",
        ], errors);
    }
}
