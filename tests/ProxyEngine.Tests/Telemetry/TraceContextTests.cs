using System.Net;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Telemetry;

/// <summary>W3C trace context crosses the proxy: same trace, the proxy's own span as the new parent.</summary>
public sealed class TraceContextTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Sends <paramref name="request"/> through the engine to a backend and returns the traceparent the backend saw.</summary>
    private static async Task<string> TraceparentSeenAsync(HttpRequestMessage request) =>
        (await HeadersSeenAsync(request))["traceparent"].ToString();

    /// <summary>Sends <paramref name="request"/> through the engine to a backend and returns the request headers the backend saw.</summary>
    private static async Task<IHeaderDictionary> HeadersSeenAsync(HttpRequestMessage request)
    {
        IHeaderDictionary? seen = null;
        await using var backend = await TestBackend.StartAsync("app");
        backend.Handler = context =>
        {
            seen = new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase));
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

    [Theory]
    [InlineData("01")]
    [InlineData("00")]
    public async Task Request_WithTraceparent_UpstreamKeepsTheCallersSamplingDecision(string flags)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("traceparent", $"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}");

        Assert.EndsWith($"-{flags}", await TraceparentSeenAsync(request), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_WithTracestateAndBaggage_UpstreamGetsOneTraceparentAndBothCarriedOn()
    {
        const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("traceparent", $"00-{traceId}-00f067aa0ba902b7-01");
        request.Headers.Add("tracestate", "vendor=opaque-value");
        request.Headers.Add("baggage", "tenant=blue");

        var headers = await HeadersSeenAsync(request);

        // The proxy's own context replaces the one the forwarder copied from the caller: not a second value beside it.
        var traceparent = Assert.Single(headers["traceparent"]);
        Assert.Contains(traceId, traceparent!, StringComparison.Ordinal);
        Assert.Equal("vendor=opaque-value", headers["tracestate"].ToString());
        Assert.Matches(@"^tenant\s*=\s*blue$", headers["baggage"].ToString());
    }
}
