using System.Net;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Retries;

/// <summary>Retries on another endpoint when the request cannot have reached an application.</summary>
public sealed class RetryTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>What a peer sidecar answers when its own application is down.</summary>
    private static Task AnswerAppUnavailable(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers[MeshHeaders.Error] = MeshErrors.AppUnavailable;
        return context.Response.WriteAsync("app-unavailable: app is down");
    }

    [Fact]
    public async Task Get_EndpointRefusesConnection_RetriedOnAnotherAndSucceeds()
    {
        await using var live = await TestBackend.StartAsync("live");
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", "RoundRobin", Ports.ClosedUrl(), live.Url));

        for (var i = 0; i < 10; i++)
        {
            using var response = await engine.GetAsync("catalog", $"/items/{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("live", response.Headers.GetValues("x-backend").Single());
        }

        Assert.Equal(10, live.Requests.Count);
    }

    [Fact]
    public async Task Get_PeerSaysAppUnavailable_RetriedOnAnother()
    {
        await using var down = await TestBackend.StartAsync("down");
        down.Handler = AnswerAppUnavailable;
        await using var live = await TestBackend.StartAsync("live");
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", "RoundRobin", down.Url, live.Url));

        for (var i = 0; i < 6; i++)
        {
            using var response = await engine.GetAsync("catalog");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("live GET /", await response.Content.ReadAsStringAsync(Cancel));
        }

        Assert.NotEmpty(down.Requests);
    }

    [Fact]
    public async Task Get_OnlyEndpointSaysAppUnavailable_MeshErrorPassesThrough()
    {
        await using var down = await TestBackend.StartAsync("down");
        down.Handler = AnswerAppUnavailable;
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", down.Url));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(MeshErrors.AppUnavailable, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal("app-unavailable: app is down", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task Get_EveryEndpointRefuses_503UpstreamUnavailableAfterTryingEach()
    {
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", Ports.ClosedUrl(), Ports.ClosedUrl()));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(MeshErrors.UpstreamUnavailable, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.StartsWith("upstream-unavailable: could not connect to catalog", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_WithBody_NotRetriedSoNothingIsSentTwice()
    {
        await using var live = await TestBackend.StartAsync("live");
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", "RoundRobin", Ports.ClosedUrl(), live.Url));

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent("{\"n\":1}") };
            request.Headers.Host = "catalog";
            using var response = await engine.Client.SendAsync(request, Cancel);
            statuses.Add(response.StatusCode);
        }

        // Round robin alternates: the requests sent to the closed port fail and are not re-sent to the live one.
        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.ServiceUnavailable));
        Assert.Equal(2, live.Requests.Count);
    }
}
