using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// An authentication policy targeting a service: its own sidecar requires the end user's credential of every request,
/// whichever workload calls, between real sidecar processes.
/// </summary>
public sealed class ServiceAuthenticationTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static readonly byte[] Secret = RandomNumberGenerator.GetBytes(32);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static MeshConfig Config(params AuthorizationPolicy[] authorization) => new()
    {
        Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog" }],
        Policies = new()
        {
            // The callers' sidecars probe catalog's /mesh-probe through its sidecar (its own sidecar checks /health directly):
            // probes carry no credential and must pass, or catalog would leave rotation.
            Backends = [new() { Name = "catalog-health", TargetRef = new() { Name = "catalog" }, HealthCheck = new() { Path = "/mesh-probe", Interval = "1s", Timeout = "1s", UnhealthyThreshold = 1 } }],
            Authorization = authorization,
            Authentication =
            [
                new()
                {
                    Name = "catalog-users",
                    TargetRef = new() { Kind = "Service", Name = "catalog" },
                    Type = AuthenticationTypes.Jwt,
                    Jwt = new()
                    {
                        Issuer = "https://issuer.test",
                        Audiences = ["aspiremesh"],
                        Keys = [new() { Kty = "oct", K = TestTokens.Encode(Secret) }],
                        ClaimsToHeaders = [new() { Claim = "sub", Header = "x-user" }],
                    },
                },
            ],
        },
    };

    [Fact]
    public async Task ServicePolicy_RequestWithoutValidToken_401FromTheServicesSidecar_ValidOneReachesTheAppWithItsClaims()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        catalogApp.Handler = context => context.Response.WriteAsync($"user={context.Request.Headers["x-user"]}");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ServiceAuthenticationTests).Assembly, Config());
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await controlPlane.WaitUntilRoutableAsync("catalog-1", ["frontend-1"], Deadline);
        using var http = frontend.OutboundClient();
        var valid = TestTokens.Hs256(Secret, TestTokens.Claims());

        // A valid token passes on, and the app learns the user from the sidecar, not from what the caller claimed.
        string body = "";
        await Eventually.UntilAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "http://catalog/items");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", valid);
            request.Headers.Add("x-user", "mallory");
            using var response = await http.SendAsync(request, Cancel);
            body = await response.Content.ReadAsStringAsync(Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, Deadline, () => $"a request with a valid token to reach catalog (last: {body})");
        Assert.Equal("user=alice", body);

        // Without a token, with an expired one, or one signed with another key: 401 from catalog's sidecar, nothing reaches the app.
        static bool Probe(string request) => request is "GET /health" or "GET /mesh-probe";
        var served = catalogApp.Requests.Count(r => !Probe(r));
        foreach (var (token, reason) in new[]
        {
            ((string?)null, "service 'catalog' requires a bearer token"),
            (TestTokens.Hs256(Secret, TestTokens.Claims(("exp", DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeSeconds()))), "expired"),
            (TestTokens.Hs256(RandomNumberGenerator.GetBytes(32), TestTokens.Claims()), "signature"),
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "http://catalog/items");
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            using var response = await http.SendAsync(request, Cancel);
            var refusal = await response.Content.ReadAsStringAsync(Cancel);

            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{reason}: {(int)response.StatusCode} {refusal}");
            Assert.Equal(MeshErrors.Unauthenticated, response.Headers.GetValues(MeshHeaders.Error).Single());
            Assert.StartsWith("Bearer", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
            Assert.Contains("realm=\"catalog\"", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
            Assert.Contains(reason, refusal, StringComparison.OrdinalIgnoreCase);
            Assert.False(response.Headers.Contains(MeshHeaders.Instance), "a refused request must never reach an app");
        }

        Assert.Equal(served, catalogApp.Requests.Count(r => !Probe(r)));
        // frontend's sidecar probes catalog without a token, through catalog's sidecar, and the probes passed: they reached the app.
        await Eventually.UntilAsync(() => catalogApp.Requests.Contains("GET /mesh-probe"), Deadline, "frontend's health probes to reach catalog's app");
    }

    [Fact]
    public async Task RequestPrincipals_AllowPolicyNamingOneUser_OtherUsersValidTokens403Denied()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        var onlyAlice = new AuthorizationPolicy
        {
            Name = "catalog-admins",
            TargetRef = new() { Name = "catalog" },
            Action = "Allow",
            Rules = [new() { RequestPrincipals = ["https://issuer.test/alice"] }],
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ServiceAuthenticationTests).Assembly, Config(onlyAlice));
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await controlPlane.WaitUntilRoutableAsync("catalog-1", ["frontend-1"], Deadline);
        using var http = frontend.OutboundClient();

        async Task<HttpResponseMessage> AsAsync(string user)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "http://catalog/items");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestTokens.Hs256(Secret, TestTokens.Claims(("sub", user))));
            return await http.SendAsync(request, Cancel);
        }

        await Eventually.UntilAsync(async () =>
        {
            using var alice = await AsAsync("alice");
            return alice.StatusCode == HttpStatusCode.OK;
        }, Deadline, "alice's request to reach catalog");

        using var bob = await AsAsync("bob");
        var body = await bob.Content.ReadAsStringAsync(Cancel);
        Assert.True(bob.StatusCode == HttpStatusCode.Forbidden, $"expected 403 for bob, got {(int)bob.StatusCode}: {body}");
        Assert.Equal(MeshErrors.Denied, bob.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal("catalog-admins", bob.Headers.GetValues(MeshHeaders.DeniedBy).Single());
        Assert.Contains("for end user 'https://issuer.test/bob'", body, StringComparison.Ordinal);
        Assert.False(bob.Headers.Contains(MeshHeaders.Instance), "a denied request must never reach the app");
    }
}
