using System.Collections.Concurrent;
using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Security;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// The Host and <c>X-Forwarded-*</c> headers an app gets through its sidecar: the Host its caller asked for; forwarded
/// headers only from a Gateway (Gateway.Tests), never from another service, and from a caller without a mesh identity
/// as the sidecar's connection shows them. The headers in which a Gateway names its authenticated client, the mesh's own
/// and those the mesh's JWT policies configure, reach the app from nobody else.
/// </summary>
public sealed class ForwardedHeadersTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static MeshConfig Mesh(string catalogMode) => new()
    {
        Services = [new ServiceConfig { Name = "frontend", References = ["catalog"] }, new ServiceConfig { Name = "catalog", Mtls = catalogMode }],
        // A gateway's JWT policy that passes a claim in a header of the user's choosing (no gateway runs here).
        Routes = [new HttpRouteConfig { Name = "public", ParentRefs = [new ParentReference { Name = "edge" }], Rules = [new HttpRouteRule { BackendRefs = [new BackendReference { Name = "catalog" }] }] }],
        Policies = new PoliciesConfig
        {
            Authentication =
            [
                new AuthenticationPolicy
                {
                    Name = "edge-jwt", TargetRef = new PolicyTarget { Kind = "Gateway", Name = "edge" },
                    Jwt = new JwtAuthentication { JwksUri = "http://127.0.0.1:9/jwks", ClaimsToHeaders = [new ClaimToHeader { Claim = "email", Header = "x-user-email" }] },
                },
            ],
        },
    };

    /// <summary>What a Gateway says of a client it authenticated, which no one else may say.</summary>
    private static readonly string[] IdentityHeaders = [GatewayIdentityHeaders.Subject, GatewayIdentityHeaders.ApiKeyName, "x-user-email"];

    /// <summary>An app that records the headers of every request, by path.</summary>
    private static async Task<(TestBackend App, ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> Seen)> StartRecordingAppAsync(string name)
    {
        var seen = new ConcurrentDictionary<string, IReadOnlyDictionary<string, string>>();
        var app = await TestBackend.StartAsync(name);
        app.Handler = context =>
        {
            seen[context.Request.Path.Value ?? ""] = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
            return context.Response.WriteAsync(name);
        };
        return (app, seen);
    }

    /// <summary>A GET that claims another client, scheme, host and user, in every header that can say so.</summary>
    private static HttpRequestMessage Forged(Uri url)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add(GatewayIdentityHeaders.Subject, "admin");
        request.Headers.Add(GatewayIdentityHeaders.ApiKeyName, "partner");
        request.Headers.Add("X-User-Email", "root@example.test");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "admin.internal");
        request.Headers.Add("Forwarded", "for=203.0.113.7;host=admin.internal");
        request.Headers.Add(MeshHeaders.Authority, "admin.internal");
        return request;
    }

    private static string Show(IReadOnlyDictionary<string, string> headers) => string.Join(Environment.NewLine, headers.Select(h => $"{h.Key}: {h.Value}"));

    [Fact]
    public async Task SidecarPair_TheAppGetsTheHostItsCallerAskedFor_AndNoForwardedOrIdentityHeadersAnotherServiceWrote()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        var (catalogApp, seen) = await StartRecordingAppAsync("catalog-app");
        await using var _ = catalogApp;
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ForwardedHeadersTests).Assembly, Mesh(MtlsModes.Strict));
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync("http://catalog/ready", Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, Deadline, "frontend's sidecar to reach catalog");
        // Ready once it applied a snapshot: the one that names the policy's claim header.
        await Eventually.UntilAsync(async () => await catalog.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "catalog's sidecar to be ready");

        // What a frontend app could claim: a client of its own, and another host for the hop.
        using var request = Forged(new Uri("http://catalog/items/forged"));
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var headers = seen["/items/forged"];
        Assert.True(headers.GetValueOrDefault("host") == "catalog", Show(headers));
        Assert.True(headers.GetValueOrDefault(MeshHeaders.Source) == "frontend", Show(headers));
        foreach (var name in (string[])["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", MeshHeaders.Authority, .. IdentityHeaders])
        {
            Assert.False(headers.ContainsKey(name), $"the app got {name}:{Environment.NewLine}{Show(headers)}");
        }
    }

    [Fact]
    public async Task PlaintextCallerInPermissiveMode_ItsForwardedHeadersAreReplacedWithWhatTheConnectionShows_AndItsIdentityHeadersRemoved()
    {
        var (catalogApp, seen) = await StartRecordingAppAsync("catalog-app");
        await using var _ = catalogApp;
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ForwardedHeadersTests).Assembly, Mesh(MtlsModes.Permissive));
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        // From another loopback address than the sidecar's own, claiming to forward for someone else.
        using var client = new HttpClient(LoopbackSource.Handler(LoopbackSource.Client)) { Timeout = Deadline };
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync(new Uri(catalog.Inbound, "ready"), Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, Deadline, "the permissive sidecar to serve a plaintext caller");

        using var request = Forged(new Uri(catalog.Inbound, "items/spoofed"));
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var headers = seen["/items/spoofed"];
        // The Host it sent is its own to choose; a proxy's word on it (x-mesh-authority) is not.
        Assert.True(headers.GetValueOrDefault("host") == catalog.Inbound.Authority, Show(headers));
        Assert.True(headers.GetValueOrDefault("x-forwarded-for") == "127.0.0.2", Show(headers));
        Assert.True(headers.GetValueOrDefault("x-forwarded-proto") == "http", Show(headers));
        Assert.True(headers.GetValueOrDefault("x-forwarded-host") == catalog.Inbound.Authority, Show(headers));
        Assert.False(headers.ContainsKey("forwarded"), Show(headers));
        Assert.False(headers.ContainsKey(MeshHeaders.Authority), Show(headers));
        foreach (var name in IdentityHeaders)
        {
            Assert.False(headers.ContainsKey(name), $"the app got {name}:{Environment.NewLine}{Show(headers)}");
        }
    }
}
