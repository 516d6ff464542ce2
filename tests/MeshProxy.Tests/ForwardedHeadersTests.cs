using System.Collections.Concurrent;
using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Security;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// The Host and <c>X-Forwarded-*</c> headers an app gets through a sidecar pair: what its caller sent, as Istio's and
/// Linkerd's sidecars pass them; rewritten from the connection only for callers that proved no mesh identity.
/// </summary>
public sealed class ForwardedHeadersTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static MeshConfig Mesh(string catalogMode) => new()
    {
        Services = [new ServiceConfig { Name = "frontend", References = ["catalog"] }, new ServiceConfig { Name = "catalog", Mtls = catalogMode }],
    };

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

    private static string Show(IReadOnlyDictionary<string, string> headers) => string.Join(Environment.NewLine, headers.Select(h => $"{h.Key}: {h.Value}"));

    [Fact]
    public async Task SidecarPair_TheHostAndForwardedHeadersTheCallerSent_ReachThePeerAppUnchanged()
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

        // As an app that is itself a proxy for its own clients (a BFF) would send them.
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://catalog/items/forwarded");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "shop.example.com");
        using var forwarded = await client.SendAsync(request, Cancel);
        using var plain = await client.GetAsync("http://catalog/items/plain", Cancel);

        Assert.Equal(HttpStatusCode.OK, forwarded.StatusCode);
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        var withThem = seen["/items/forwarded"];
        Assert.True(withThem.GetValueOrDefault("host") == "catalog", Show(withThem));
        Assert.True(withThem.GetValueOrDefault("x-forwarded-for") == "203.0.113.7", Show(withThem));
        Assert.True(withThem.GetValueOrDefault("x-forwarded-proto") == "https", Show(withThem));
        Assert.True(withThem.GetValueOrDefault("x-forwarded-host") == "shop.example.com", Show(withThem));
        var without = seen["/items/plain"];
        Assert.True(without.GetValueOrDefault("host") == "catalog", Show(without));
        Assert.False(without.Keys.Any(k => k.StartsWith("x-forwarded-", StringComparison.Ordinal)), Show(without));
    }

    [Fact]
    public async Task PlaintextCallerInPermissiveMode_ItsForwardedHeadersAreReplacedWithWhatTheConnectionShows()
    {
        var (catalogApp, seen) = await StartRecordingAppAsync("catalog-app");
        await using var _ = catalogApp;
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ForwardedHeadersTests).Assembly, Mesh(MtlsModes.Permissive));
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        // From another loopback address than the sidecar's own, claiming to forward for someone else.
        using var client = new HttpClient(TestSupport.LoopbackSource.Handler(TestSupport.LoopbackSource.Client)) { Timeout = Deadline };
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync(new Uri(catalog.Inbound, "ready"), Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, Deadline, "the permissive sidecar to serve a plaintext caller");

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(catalog.Inbound, "items/spoofed"));
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("X-Forwarded-Host", "admin.internal");
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var headers = seen["/items/spoofed"];
        Assert.True(headers.GetValueOrDefault("x-forwarded-for") == "127.0.0.2", Show(headers));
        Assert.True(headers.GetValueOrDefault("x-forwarded-host") == catalog.Inbound.Authority, Show(headers));
        Assert.True(headers.GetValueOrDefault("x-forwarded-proto") == "http", Show(headers));
    }
}
