using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// What an app behind the mesh learns of the request a client sent to the gateway: the host the client asked for and
/// the client's address, as the gateway saw them, and who the client proved to be, through the app's sidecar.
/// </summary>
public sealed class ForwardedHeadersTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private const string ApiKey = "shop-client-key";

    /// <summary>
    /// Route <c>shop</c> takes API keys; route <c>open</c> takes anyone. Another gateway's JWT policy passes a claim in
    /// <c>x-user-email</c>, which no client of this one may write.
    /// </summary>
    private static readonly MeshConfig Config = new()
    {
        Services = [new() { Name = "shop" }],
        Routes =
        [
            new() { Name = "shop", ParentRefs = [new() { Name = "edge" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/shop" } }], BackendRefs = [new() { Name = "shop" }] }] },
            new() { Name = "open", ParentRefs = [new() { Name = "edge" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/open" } }], BackendRefs = [new() { Name = "shop" }] }] },
            new() { Name = "partner", ParentRefs = [new() { Name = "partners" }], Rules = [new() { BackendRefs = [new() { Name = "shop" }] }] },
        ],
        Policies = new()
        {
            Authentication =
            [
                new()
                {
                    Name = "shop-keys", TargetRef = new() { Kind = "Route", Name = "shop" }, Type = AuthenticationTypes.ApiKey,
                    ApiKey = new() { Keys = [new() { Name = "shop-client", Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ApiKey))) }] },
                },
                new()
                {
                    Name = "partners-jwt", TargetRef = new() { Kind = "Gateway", Name = "partners" },
                    Jwt = new() { JwksUri = "http://127.0.0.1:9/jwks", ClaimsToHeaders = [new() { Claim = "email", Header = "x-user-email" }] },
                },
            ],
        },
    };

    /// <summary>The sidecar's open downstream connections (its traffic listeners'; the admin one this client and the control plane poll is not counted).</summary>
    private static async Task<long> DownstreamConnectionsAsync(HttpClient admin, Uri sidecarAdmin)
    {
        var metrics = await admin.GetStringAsync(new Uri(sidecarAdmin, "metrics"), Cancel);
        var line = metrics.Split('\n').Single(l => l.StartsWith("mesh_open_connections{side=\"downstream\"}", StringComparison.Ordinal));
        return long.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task ThroughTheAppsSidecar_TheAppSeesThePublicHostAndTheClientTheGatewaySaw()
    {
        var seen = new ConcurrentDictionary<string, IReadOnlyDictionary<string, string>>();
        await using var app = await TestBackend.StartAsync("shop-app");
        app.Handler = context =>
        {
            seen[context.Request.Path.Value ?? ""] = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
            context.Response.Headers["x-backend"] = "shop-app";
            return context.Response.WriteAsync("shop");
        };
        await using var gateway = await GatewayProcess.StartAsync(Config);
        var stateDirectory = Directory.CreateTempSubdirectory("aspiremesh-proxy-").FullName;
        TestProcess? sidecar = null;
        try
        {
            sidecar = await TestProcess.StartDotnetAsync("shop-1", BuiltProjects.Assembly(typeof(ForwardedHeadersTests).Assembly, "MeshProxy.csproj"),
                ["--service", "shop", "--instance-id", "shop-1", "--control-plane", gateway.ControlPlane.Url.ToString(), "--state-dir", stateDirectory, "--app-url", app.Url.ToString()],
                ControlPlaneProcess.SidecarEnvironment("shop", "shop-1"));
            var sidecarAdmin = new Uri((await sidecar.WaitForLineAsync(@"listening: inbound \S+, outbound \S+, admin (\S+)$", Deadline)).Groups[1].Value);
            await Eventually.UntilAsync(async () =>
            {
                using var response = await gateway.Client.GetAsync("/open/ready", Cancel);
                return response.Headers.TryGetValues(MeshHeaders.Instance, out var instance) && instance.Single() == "shop-1";
            }, Deadline, () => $"the gateway to reach the app through its sidecar{Environment.NewLine}{sidecar.Output}");
            // A client on another loopback address than the proxies' 127.0.0.1, which claims to be someone else.
            using var client = new HttpClient(LoopbackSource.Handler(LoopbackSource.Client)) { BaseAddress = gateway.Url, Timeout = Deadline };
            client.DefaultRequestHeaders.Add("x-api-key", ApiKey);
            using var request = new HttpRequestMessage(HttpMethod.Get, "/shop/cart");
            request.Headers.Host = "shop.example.com";
            request.Headers.Add("X-Forwarded-For", "203.0.113.7");
            request.Headers.Add("x-user-email", "root@example.test");

            using var response = await client.SendAsync(request, Cancel);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var headers = seen["/shop/cart"];
            var shown = string.Join(Environment.NewLine, headers.Select(h => $"{h.Key}: {h.Value}"));
            Assert.True(headers.GetValueOrDefault("host") == "shop.example.com", shown);
            Assert.True(headers.GetValueOrDefault("x-forwarded-for") == "127.0.0.2", shown);
            Assert.True(headers.GetValueOrDefault("x-forwarded-host") == "shop.example.com", shown);
            Assert.True(headers.GetValueOrDefault("x-forwarded-proto") == "http", shown);
            Assert.True(headers.GetValueOrDefault(MeshHeaders.Source) == "gateway/edge", shown);
            Assert.False(headers.ContainsKey(MeshHeaders.Authority), shown);
            // The gateway's word on its client passes the sidecar; the client's own, in a header a policy names, does not.
            Assert.True(headers.GetValueOrDefault(GatewayIdentityHeaders.ApiKeyName) == "shop-client", shown);
            Assert.False(headers.ContainsKey("x-user-email"), shown);
            Assert.False(headers.ContainsKey("x-api-key"), shown);

            // A route without authentication: the client cannot write what another gateway's policy vouches for either.
            using (var open = new HttpRequestMessage(HttpMethod.Get, "/open/profile"))
            {
                open.Headers.Add("x-user-email", "root@example.test");
                open.Headers.Add(GatewayIdentityHeaders.Subject, "admin");
                using var answer = await client.SendAsync(open, Cancel);
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                var seenOpen = seen["/open/profile"];
                Assert.False(seenOpen.ContainsKey("x-user-email"), string.Join(Environment.NewLine, seenOpen.Select(h => $"{h.Key}: {h.Value}")));
                Assert.False(seenOpen.ContainsKey(GatewayIdentityHeaders.Subject), string.Join(Environment.NewLine, seenOpen.Select(h => $"{h.Key}: {h.Value}")));
            }

            // Clients choose the Host; the mTLS hop's connections must not follow it (one pool and handshake per value).
            using var admin = new HttpClient { Timeout = Deadline };
            var before = await DownstreamConnectionsAsync(admin, sidecarAdmin);
            foreach (var host in new[] { "a.example.com", "b.example.com", "c.example.com", "d.example.com" })
            {
                using var other = new HttpRequestMessage(HttpMethod.Get, $"/shop/{host}");
                other.Headers.Host = host;
                using var answer = await client.SendAsync(other, Cancel);
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                Assert.Equal(host, seen[$"/shop/{host}"].GetValueOrDefault("host"));
            }

            var after = await DownstreamConnectionsAsync(admin, sidecarAdmin);
            Assert.True(after <= before, $"the sidecar had {before} downstream connections open before four new Host values and {after} after{Environment.NewLine}{sidecar.Output}");
        }
        finally
        {
            if (sidecar is not null)
            {
                await sidecar.DisposeAsync();
            }

            Directory.Delete(stateDirectory, recursive: true);
        }
    }
}
