using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Telemetry;

/// <summary>W3C trace context crosses the proxy: same trace, the proxy's own span as the new parent.</summary>
public sealed class TraceContextTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Request_WithTraceparent_UpstreamContinuesTheSameTrace()
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
        const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        const string parentId = "00f067aa0ba902b7";

        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = "catalog";
        request.Headers.Add("traceparent", $"00-{traceId}-{parentId}-01");
        using var response = await engine.Client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var parts = seen!.Split('-');
        Assert.Equal(4, parts.Length);
        Assert.Equal(traceId, parts[1]);
        Assert.NotEqual(parentId, parts[2]);
    }

    [Fact]
    public async Task Request_WithoutTraceparent_UpstreamGetsANewTrace()
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

        using var response = await engine.GetAsync("catalog");

        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", seen);
    }
}
