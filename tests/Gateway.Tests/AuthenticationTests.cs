using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// Authentication at the gateway, by a real gateway process: a JWT policy on the whole gateway (an RS256 key given
/// inline), an API-key policy replacing it on one route, and a JWT policy with keys fetched from a JWKS URL on another.
/// </summary>
public sealed class AuthenticationTests(AuthenticationTests.Mesh mesh) : IClassFixture<AuthenticationTests.Mesh>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public sealed class Mesh : IAsyncLifetime
    {
        public RSA Rsa { get; } = RSA.Create(2048);

        public ECDsa Ec1 { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        public ECDsa Ec2 { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        public GatewayProcess Gateway { get; private set; } = null!;

        public TestBackend Api { get; private set; } = null!;

        public TestBackend Jwks { get; private set; } = null!;

        /// <summary>The keys the JWKS URL publishes; a test adds one to rotate.</summary>
        public ConcurrentQueue<Dictionary<string, string>> Published { get; } = new();

        /// <summary>The headers each request that reached the app carried, by path.</summary>
        public ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> Seen { get; } = new();

        public async ValueTask InitializeAsync()
        {
            Published.Enqueue(TestTokens.Jwk(Ec1, "ec-1"));
            Jwks = await TestBackend.StartAsync("jwks");
            Jwks.Handler = context => context.Response.WriteAsync(JsonSerializer.Serialize(new { keys = Published.ToArray() }));
            Api = await TestBackend.StartAsync("api-app");
            Api.Handler = context =>
            {
                Seen[context.Request.Path.Value ?? ""] = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
                context.Response.Headers["x-backend"] = "api-app";
                return context.Response.WriteAsync("ok");
            };
            var rsaJwk = TestTokens.Jwk(Rsa, "rsa-1");
            var config = new MeshConfig
            {
                Services = [new() { Name = "api" }],
                Routes =
                [
                    Route("api", "/api"),
                    Route("partner", "/partner"),
                    Route("federated", "/federated"),
                ],
                Policies = new()
                {
                    Authentication =
                    [
                        new()
                        {
                            Name = "edge-jwt", TargetRef = new() { Kind = "Gateway", Name = "edge" }, Type = "Jwt",
                            Jwt = new()
                            {
                                Issuer = "https://issuer.test", Audiences = ["aspiremesh"],
                                Keys = [new() { Kid = "rsa-1", Kty = "RSA", Alg = "RS256", N = rsaJwk["n"], E = rsaJwk["e"] }],
                                ClaimsToHeaders = [new() { Claim = "email", Header = "x-mesh-jwt-email" }],
                            },
                        },
                        new()
                        {
                            Name = "partner-keys", TargetRef = new() { Kind = "Route", Name = "partner" }, Type = "ApiKey",
                            ApiKey = new() { Keys = [new() { Name = "partner-a", Sha256 = Convert.ToHexStringLower(SHA256.HashData("key-a"u8)) }], EnvironmentVariable = "EDGE_API_KEYS" },
                        },
                        new()
                        {
                            Name = "federated-jwt", TargetRef = new() { Kind = "Route", Name = "federated" }, Type = "Jwt",
                            Jwt = new() { Audiences = ["aspiremesh"], JwksUri = new Uri(Jwks.Url, "keys.json").ToString(), Algorithms = ["ES256"] },
                        },
                    ],
                },
            };
            Gateway = await GatewayProcess.StartAsync(config, environment: new Dictionary<string, string> { ["EDGE_API_KEYS"] = "key-b, key-c" });
            using var probe = new HttpClient { BaseAddress = Gateway.Url };
            probe.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestTokens.Rs256(Rsa, "rsa-1", TestTokens.Claims()));
            await Gateway.RegisterAsync("api", Api, "/api/ready", probe);
        }

        public async ValueTask DisposeAsync()
        {
            await Gateway.DisposeAsync();
            await Api.DisposeAsync();
            await Jwks.DisposeAsync();
            Rsa.Dispose();
            Ec1.Dispose();
            Ec2.Dispose();
        }

        private static HttpRouteConfig Route(string name, string prefix) => new()
        {
            Name = name,
            ParentRefs = [new() { Name = "edge" }],
            Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = prefix } }], BackendRefs = [new() { Name = "api" }] }],
        };
    }

    private static string Marker() => $"m{Guid.NewGuid():N}"[..12];

    private async Task<HttpResponseMessage> SendAsync(string path, string? bearer = null, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (bearer is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {bearer}");
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await mesh.Gateway.Client.SendAsync(request, Cancel);
    }

    private void AssertNotForwarded(string path) => Assert.DoesNotContain(mesh.Api.Requests, r => r.Contains(path, StringComparison.Ordinal));

    [Fact]
    public async Task Jwt_ValidToken_ForwardedWithVerifiedClaimsReplacingClientOnes()
    {
        var path = $"/api/{Marker()}";

        using var response = await SendAsync(path, TestTokens.Rs256(mesh.Rsa, "rsa-1", TestTokens.Claims()), ("x-mesh-jwt-sub", "admin"), ("x-mesh-jwt-email", "root@example.test"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = mesh.Seen[path];
        Assert.Equal("alice", seen["x-mesh-jwt-sub"]);
        Assert.Equal("alice@example.test", seen["x-mesh-jwt-email"]);
        Assert.StartsWith("Bearer ", seen["authorization"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jwt_NoToken_401WithChallengeNotForwarded()
    {
        var path = $"/api/{Marker()}";

        using var response = await SendAsync(path, null, ("x-mesh-jwt-sub", "admin"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(MeshErrors.Unauthenticated, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal("Bearer realm=\"edge\"", response.Headers.WwwAuthenticate.ToString());
        Assert.Equal("unauthenticated: this route requires a bearer token (Authorization: Bearer <JWT>).\n", await response.Content.ReadAsStringAsync(Cancel));
        AssertNotForwarded(path);
    }

    public static TheoryData<string, string> InvalidTokens()
    {
        using var rsa = RSA.Create(2048);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return new()
        {
            { "expired", "the token expired at" },
            { "not-yet-valid", "the token is not valid before" },
            { "no-exp", "the token has no expiry (exp)" },
            { "wrong-audience", "its audience is not one of aspiremesh" },
            { "wrong-issuer", "the token's issuer 'https://evil.test' is not 'https://issuer.test'" },
            { "other-key", "the token's signature is not valid" },
            { "unknown-kid", "no key of this route has the token's key id 'rsa-9'" },
            { "alg-none", "the token's algorithm 'none' is not accepted" },
            { "unsigned", "the bearer token is not a signed JWT" },
            { "hs256-with-public-key", "no key of this route has a matching type" },
            { "garbage", "the bearer token is not a signed JWT" },
            { "tampered", "the token's signature is not valid" },
        };
    }

    [Theory]
    [MemberData(nameof(InvalidTokens))]
    public async Task Jwt_InvalidToken_401WithReasonNotForwarded(string kind, string reason)
    {
        var path = $"/api/{Marker()}";
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using var other = RSA.Create(2048);
        var token = kind switch
        {
            "expired" => TestTokens.Rs256(mesh.Rsa, "rsa-1", TestTokens.Claims(("exp", now - 3600))),
            "not-yet-valid" => TestTokens.Rs256(mesh.Rsa, "rsa-1", TestTokens.Claims(("nbf", now + 3600))),
            "no-exp" => TestTokens.Rs256(mesh.Rsa, "rsa-1", TestTokens.Claims(("exp", null))),
            "wrong-audience" => TestTokens.Rs256(mesh.Rsa, "rsa-1", TestTokens.Claims(("aud", new[] { "billing", "other" }))),
            "wrong-issuer" => TestTokens.Rs256(mesh.Rsa, "rsa-1", TestTokens.Claims(("iss", "https://evil.test"))),
            "other-key" => TestTokens.Rs256(other, "rsa-1", TestTokens.Claims()),
            "unknown-kid" => TestTokens.Rs256(mesh.Rsa, "rsa-9", TestTokens.Claims()),
            "alg-none" => TestTokens.Sign(new { alg = "none", typ = "JWT" }, TestTokens.Claims(), _ => [0]),
            "unsigned" => TestTokens.Unsigned(TestTokens.Claims()),
            // The RSA key's public modulus as an HMAC secret: the classic algorithm-confusion attack.
            "hs256-with-public-key" => TestTokens.Hs256(mesh.Rsa.ExportParameters(false).Modulus!, TestTokens.Claims()),
            "garbage" => "not-a-token",
            "tampered" => Tamper(TestTokens.Rs256(mesh.Rsa, "rsa-1", TestTokens.Claims())),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        using var response = await SendAsync(path, token);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(MeshErrors.Unauthenticated, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.StartsWith("Bearer realm=\"edge\", error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        AssertNotForwarded(path);
    }

    /// <summary>The same signature over a payload that says sub=admin.</summary>
    private static string Tamper(string token)
    {
        var parts = token.Split('.');
        var claims = TestTokens.Claims(("sub", "admin"));
        return $"{parts[0]}.{TestTokens.Encode(JsonSerializer.SerializeToUtf8Bytes(claims))}.{parts[2]}";
    }

    [Fact]
    public async Task Jwt_KeysFromJwksUri_VerifiedAndARotatedKeyPickedUp()
    {
        var first = $"/federated/{Marker()}";
        using (var response = await SendAsync(first, TestTokens.Es256(mesh.Ec1, "ec-1", TestTokens.Claims())))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("alice", mesh.Seen[first]["x-mesh-jwt-sub"]);
        }

        // The issuer publishes a new key; a token signed with it names a key id the gateway has not seen yet.
        mesh.Published.Enqueue(TestTokens.Jwk(mesh.Ec2, "ec-2"));
        var rotated = TestTokens.Es256(mesh.Ec2, "ec-2", TestTokens.Claims());
        var last = "";
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                using var response = await SendAsync($"/federated/{Marker()}", rotated);
                last = await response.Content.ReadAsStringAsync(Cancel);
                return response.StatusCode == HttpStatusCode.OK;
            }, GatewayProcess.Deadline, "a token signed with the rotated key to be accepted");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message} Last answer: {last} JWKS requests: {mesh.Jwks.Requests.Count}. Gateway output:{Environment.NewLine}{mesh.Gateway.Process.Output}", ex);
        }

        // The gateway-wide RS256 key does not count on this route: its own policy replaces the gateway's.
        var path = $"/federated/{Marker()}";
        using var refused = await SendAsync(path, TestTokens.Rs256(mesh.Rsa, "rsa-1", TestTokens.Claims()));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        AssertNotForwarded(path);
    }

    [Theory]
    [InlineData("key-a", "partner-a")]
    [InlineData("key-b", "EDGE_API_KEYS")]
    [InlineData("key-c", "EDGE_API_KEYS")]
    public async Task ApiKey_ValidKey_ForwardedWithTheKeyNameAndWithoutTheKey(string key, string name)
    {
        var path = $"/partner/{Marker()}";

        using var response = await SendAsync(path, null, ("x-api-key", key), ("x-mesh-api-key", "spoofed"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(name, mesh.Seen[path]["x-mesh-api-key"]);
        Assert.False(mesh.Seen[path].ContainsKey("x-api-key"), "the key itself was forwarded to the app");
    }

    [Theory]
    [InlineData(null, "this route requires an API key in the x-api-key header.")]
    [InlineData("key-z", "the API key in x-api-key is not valid.")]
    [InlineData("KEY-A", "the API key in x-api-key is not valid.")]
    public async Task ApiKey_MissingOrUnknownKey_401NotForwarded(string? key, string reason)
    {
        var path = $"/partner/{Marker()}";
        // A valid JWT does not help: the route's API-key policy replaces the gateway's JWT policy.
        var bearer = TestTokens.Rs256(mesh.Rsa, "rsa-1", TestTokens.Claims());

        using var response = key is null ? await SendAsync(path, bearer) : await SendAsync(path, bearer, ("x-api-key", key));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(MeshErrors.Unauthenticated, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal("ApiKey header=\"x-api-key\"", response.Headers.WwwAuthenticate.ToString());
        Assert.Equal($"unauthenticated: {reason}\n", await response.Content.ReadAsStringAsync(Cancel));
        AssertNotForwarded(path);
    }

    [Fact]
    public async Task Refusals_CountedAsMeshErrorsInMetrics()
    {
        using (await SendAsync($"/api/{Marker()}"))
        {
        }

        using var admin = new HttpClient();
        var metrics = await admin.GetStringAsync(new Uri(mesh.Gateway.AdminUrl, "metrics"), Cancel);

        Assert.Contains(metrics.Split('\n'), line => line.StartsWith("mesh_requests_total{", StringComparison.Ordinal)
            && line.Contains("mesh_error=\"unauthenticated\"", StringComparison.Ordinal) && line.Contains("code=\"4xx\"", StringComparison.Ordinal));
    }
}
