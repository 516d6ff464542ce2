using System.Net;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Telemetry;

/// <summary>
/// W3C trace context crosses a proxy that records no spans (no tracer: the engine's default here): the caller's
/// context unchanged, or a new trace when the caller sent none.
/// </summary>
public sealed class TraceContextTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";

    private const string ParentId = "00f067aa0ba902b7";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Sends <paramref name="request"/> through the engine to a backend and returns the traceparent the backend saw.</summary>
    private static async Task<string> TraceparentSeenAsync(HttpRequestMessage request, bool bareClient = false) =>
        (await HeadersSeenAsync(request, bareClient))["traceparent"].ToString();

    /// <summary>
    /// Sends <paramref name="request"/> through the engine to a backend and returns the request headers the backend saw;
    /// with <paramref name="bareClient"/>, from a client that adds no trace context of its own.
    /// </summary>
    private static async Task<IHeaderDictionary> HeadersSeenAsync(HttpRequestMessage request, bool bareClient = false)
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
        // The engine runs in this process, whose HttpClients therefore start activities and write traceparent.
        using var bare = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null }) { BaseAddress = engine.Url };
        using var response = await (bareClient ? bare : engine.Client).SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(seen);
        return seen;
    }

    [Theory]
    [InlineData("01")]
    [InlineData("00")]
    public async Task Request_WithTraceparent_UpstreamGetsTheCallersContextWithItsSamplingDecision(string flags)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("traceparent", $"00-{TraceId}-{ParentId}-{flags}");

        // The caller's span stays the parent: the proxy's own span is recorded nowhere, so a parent id of it would
        // break the trace between the caller's span and the upstream's.
        Assert.Equal($"00-{TraceId}-{ParentId}-{flags}", await TraceparentSeenAsync(request));
    }

    [Fact]
    public async Task Request_WithTracestateAndBaggage_UpstreamGetsAllThreeOnce()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("traceparent", $"00-{TraceId}-{ParentId}-01");
        request.Headers.Add("tracestate", "vendor=opaque-value");
        request.Headers.Add("baggage", "tenant=blue");

        var headers = await HeadersSeenAsync(request);

        // Whole values: a second traceparent or tracestate written beside the copied ones would arrive joined to them.
        Assert.Equal($"00-{TraceId}-{ParentId}-01", headers["traceparent"].ToString());
        Assert.Equal("vendor=opaque-value", headers["tracestate"].ToString());
        Assert.Matches(@"^tenant\s*=\s*blue$", headers["baggage"].ToString());
    }

    [Fact]
    public async Task Request_WithoutTraceparent_UpstreamGetsANewTrace()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");

        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", await TraceparentSeenAsync(request, bareClient: true));
    }
}
