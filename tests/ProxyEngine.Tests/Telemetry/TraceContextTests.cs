using System.Net;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Telemetry;

/// <summary>W3C trace context crosses the proxy: same trace, the proxy's own span as the new parent.</summary>
public sealed class TraceContextTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Sends <paramref name="request"/> through the engine to a backend and returns the traceparent the backend saw.</summary>
    private static async Task<string> TraceparentSeenAsync(HttpRequestMessage request)
    {
        string? seen = null;
        await using var backend = await TestBackend.StartAsync("app");
        backend.Handler = context =>
        {
            seen = context.Request.Headers["traceparent"].ToString();
            return context.Response.WriteAsync("ok");
        };
        await using var engine = await EngineHost.StartAsync();
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", backend.Url));
        request.Headers.Host = "catalog";
        using var response = await engine.Client.SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return seen!;
    }

    [Fact]
    public async Task Request_WithTraceparent_UpstreamContinuesTheSameTrace()
    {
        const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        const string parentId = "00f067aa0ba902b7";
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("traceparent", $"00-{traceId}-{parentId}-01");

        var parts = (await TraceparentSeenAsync(request)).Split('-');

        Assert.Equal(4, parts.Length);
        Assert.Equal(traceId, parts[1]);
        Assert.NotEqual(parentId, parts[2]);
    }

    [Fact]
    public async Task Request_WithoutTraceparent_UpstreamGetsANewTrace()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");

        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", await TraceparentSeenAsync(request));
    }
}
