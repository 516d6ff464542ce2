using System.Collections.Concurrent;
using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// What an app behind the mesh learns of the request a client sent to the gateway: the host the client asked for and
/// the client's address, as the gateway saw them, through the app's sidecar.
/// </summary>
public sealed class ForwardedHeadersTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static readonly MeshConfig Config = new()
    {
        Services = [new() { Name = "shop" }],
        Routes =
        [
            new() { Name = "shop", ParentRefs = [new() { Name = "edge" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/shop" } }], BackendRefs = [new() { Name = "shop" }] }] },
        ],
    };

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
        var sidecar = await TestProcess.StartDotnetAsync("shop-1", BuiltProjects.Assembly(typeof(ForwardedHeadersTests).Assembly, "MeshProxy.csproj"),
            ["--service", "shop", "--instance-id", "shop-1", "--control-plane", gateway.ControlPlane.Url.ToString(), "--state-dir", stateDirectory, "--app-url", app.Url.ToString()],
            ControlPlaneProcess.SidecarEnvironment("shop", "shop-1"));
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                using var response = await gateway.Client.GetAsync("/shop/ready", Cancel);
                return response.Headers.TryGetValues(MeshHeaders.Instance, out var instance) && instance.Single() == "shop-1";
            }, Deadline, $"the gateway to reach the app through its sidecar{Environment.NewLine}{sidecar.Output}");
            // A client on another loopback address than the proxies' 127.0.0.1, which claims to be someone else.
            using var client = new HttpClient(LoopbackSource.Handler(LoopbackSource.Client)) { BaseAddress = gateway.Url, Timeout = Deadline };
            using var request = new HttpRequestMessage(HttpMethod.Get, "/shop/cart");
            request.Headers.Host = "shop.example.com";
            request.Headers.Add("X-Forwarded-For", "203.0.113.7");

            using var response = await client.SendAsync(request, Cancel);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var headers = seen["/shop/cart"];
            var shown = string.Join(Environment.NewLine, headers.Select(h => $"{h.Key}: {h.Value}"));
            Assert.True(headers.GetValueOrDefault("host") == "shop.example.com", shown);
            Assert.True(headers.GetValueOrDefault("x-forwarded-for") == "127.0.0.2", shown);
            Assert.True(headers.GetValueOrDefault("x-forwarded-host") == "shop.example.com", shown);
            Assert.True(headers.GetValueOrDefault("x-forwarded-proto") == "http", shown);
            Assert.True(headers.GetValueOrDefault(MeshHeaders.Source) == "gateway/edge", shown);
        }
        finally
        {
            await sidecar.DisposeAsync();
            Directory.Delete(stateDirectory, recursive: true);
        }
    }
}
