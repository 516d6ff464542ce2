using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>Proxy spans, with what the mesh did as attributes, exported over OTLP as the OTEL_* variables say.</summary>
public sealed class TracingTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Spans_ExportedOverOtlpHttp_CarryMeshAttributes()
    {
        var exports = new ConcurrentQueue<(string Path, string? ContentType, byte[] Body)>();
        await using var collector = await TestBackend.StartAsync("otlp");
        collector.Handler = async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            exports.Enqueue((context.Request.Path, context.Request.ContentType, body.ToArray()));
        };
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TracingTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane.Url, "catalog", "catalog-1", app.Url, null, new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Url.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = "catalog-sidecar",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        });
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(sidecar.Inbound, "items"));
        request.Headers.Add("x-mesh-source", "frontend");
        using (var response = await http.SendAsync(request, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // OTLP bodies are protobuf; attribute keys and string values appear in them as UTF-8.
        static bool Has(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;
        await Eventually.UntilAsync(() => exports.Any(e => e.Path == "/v1/traces" && Has(e.Body, "mesh.source") && Has(e.Body, "frontend")),
            Deadline, "the sidecar to export a span carrying mesh.source=frontend");
        var traces = exports.First(e => e.Path == "/v1/traces" && Has(e.Body, "mesh.source"));
        Assert.Equal("application/x-protobuf", traces.ContentType);
        Assert.True(Has(traces.Body, "mesh.destination") && Has(traces.Body, "catalog-sidecar"));
    }
}
