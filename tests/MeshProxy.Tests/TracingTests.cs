using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>Proxy spans and metrics, with what the mesh did as attributes, exported over OTLP as the OTEL_* variables say.</summary>
public sealed class TracingTests
{
    // OTLP's Span.SpanKind: SPAN_KIND_CLIENT.
    private const int SpanKindClient = 3;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    // OTLP bodies are protobuf; attribute keys and string values appear in them as UTF-8.
    private static bool Has(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    /// <summary>A real OTLP/HTTP endpoint (protobuf bodies kept as received).</summary>
    private static async Task<(TestBackend Collector, ConcurrentQueue<(string Path, string? ContentType, byte[] Body)> Exports)> StartCollectorAsync()
    {
        var exports = new ConcurrentQueue<(string Path, string? ContentType, byte[] Body)>();
        var collector = await TestBackend.StartAsync("otlp");
        collector.Handler = async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            exports.Enqueue((context.Request.Path, context.Request.ContentType, body.ToArray()));
        };
        return (collector, exports);
    }

    /// <summary>A catalog sidecar exporting to <paramref name="collector"/> over OTLP/HTTP, with <paramref name="extra"/> OTEL_* settings.</summary>
    private static Task<SidecarProcess> StartExportingSidecarAsync(ControlPlaneProcess controlPlane, TestBackend app, TestBackend collector, Dictionary<string, string> extra)
    {
        extra["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Url.ToString().TrimEnd('/');
        extra["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        return SidecarProcess.StartAsync(controlPlane.Url, "catalog", "catalog-1", app.Url, null, extra);
    }

    /// <summary>
    /// Sends GET /items to the sidecar's inbound listener as the frontend's sidecar would (mTLS with a frontend
    /// certificate from the control plane), with one header, and checks it was answered.
    /// </summary>
    private static async Task GetItemsAsync(ControlPlaneProcess controlPlane, SidecarProcess sidecar, string header, string value)
    {
        using var frontend = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var http = frontend.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(MeshIdentity.Secure(sidecar.Inbound), "items"));
        request.Headers.Add(header, value);
        using var response = await http.SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Metrics_ExportedOverOtlp_CarryMeshRequestsPerSourceAndDestination()
    {
        var (collector, exports) = await StartCollectorAsync();
        await using var _ = collector;
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TracingTests).Assembly);
        await using var sidecar = await StartExportingSidecarAsync(controlPlane, app, collector, new Dictionary<string, string>
        {
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "300",
        });
        await GetItemsAsync(controlPlane, sidecar, "x-mesh-source", "frontend");

        await Eventually.UntilAsync(() => exports.Any(e => e.Path == "/v1/metrics" && Has(e.Body, "mesh.requests") && Has(e.Body, "frontend")),
            Deadline, "the sidecar to export mesh.requests with mesh.source=frontend");
        var metrics = exports.Last(e => e.Path == "/v1/metrics" && Has(e.Body, "mesh.requests"));
        Assert.True(Has(metrics.Body, "mesh.request.duration") && Has(metrics.Body, "mesh.destination") && Has(metrics.Body, "mesh.connections.open"));
    }

    [Fact]
    public async Task Sampling_TracesSamplerAlwaysOff_NoSpansWhileMetricsStillFlowAndTheCallersContextPassesUnchanged()
    {
        var (collector, exports) = await StartCollectorAsync();
        await using var _ = collector;
        await using var app = await StartAppRecordingTraceparentAsync();
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TracingTests).Assembly);
        await using var sidecar = await StartExportingSidecarAsync(controlPlane, app.Backend, collector, new Dictionary<string, string>
        {
            ["OTEL_TRACES_SAMPLER"] = "always_off",
            // Spans (if any were sampled) would leave within 100 ms; metrics every 1.5 s, so a metrics export after the
            // request comes well after any span would have.
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "1500",
        });
        const string traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        await GetItemsAsync(controlPlane, sidecar, "traceparent", traceparent);

        // Recording nothing, the sidecar is no span of the trace: the app's parent is the caller's span.
        Assert.Equal(traceparent, app.Seen);
        var after = exports.Count;
        await Eventually.UntilAsync(() => exports.Skip(after).Any(e => e.Path == "/v1/metrics" && Has(e.Body, "mesh.requests"))
            && exports.Skip(after).Count(e => e.Path == "/v1/metrics") >= 2, Deadline, "two metric exports after the request");
        Assert.DoesNotContain(exports, e => e.Path == "/v1/traces" && Has(e.Body, "mesh.source"));
    }

    [Fact]
    public async Task SdkDisabled_WithAnOtlpEndpoint_TheCallersContextPassesUnchanged()
    {
        var (collector, exports) = await StartCollectorAsync();
        await using var _ = collector;
        await using var app = await StartAppRecordingTraceparentAsync();
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TracingTests).Assembly);
        await using var sidecar = await StartExportingSidecarAsync(controlPlane, app.Backend, collector, new Dictionary<string, string>
        {
            ["OTEL_SDK_DISABLED"] = "true",
        });
        const string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        await GetItemsAsync(controlPlane, sidecar, "traceparent", traceparent);

        // The SDK records nothing, so HttpClient's client span (written as the app's parent before) would be recorded nowhere.
        Assert.Equal(traceparent, app.Seen);
        // A graceful stop flushes whatever the providers hold: nothing, with the SDK off.
        await sidecar.Process.StopAsync(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(exports, e => e.Path is "/v1/traces" or "/v1/metrics");
    }

    [Fact]
    public async Task Spans_ExportedOverOtlpHttp_CarryMeshAttributes()
    {
        var (collector, exports) = await StartCollectorAsync();
        await using var _ = collector;
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TracingTests).Assembly);
        await using var sidecar = await StartExportingSidecarAsync(controlPlane, app, collector, new Dictionary<string, string>
        {
            ["OTEL_SERVICE_NAME"] = "catalog-sidecar",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        });
        await GetItemsAsync(controlPlane, sidecar, "x-mesh-source", "frontend");

        await Eventually.UntilAsync(() => exports.Any(e => e.Path == "/v1/traces" && Has(e.Body, "mesh.source") && Has(e.Body, "frontend")),
            Deadline, "the sidecar to export a span carrying mesh.source=frontend");
        var traces = exports.First(e => e.Path == "/v1/traces" && Has(e.Body, "mesh.source"));
        Assert.Equal("application/x-protobuf", traces.ContentType);
        Assert.True(Has(traces.Body, "mesh.destination") && Has(traces.Body, "catalog-sidecar"));
    }

    [Fact]
    public async Task Spans_WithATracer_TheForwardedAttemptIsRecordedAsAClientSpanAndIsTheAppsParent()
    {
        var (collector, exports) = await StartCollectorAsync();
        await using var _ = collector;
        await using var app = await StartAppRecordingTraceparentAsync();
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TracingTests).Assembly);
        await using var sidecar = await StartExportingSidecarAsync(controlPlane, app.Backend, collector, new Dictionary<string, string>
        {
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        });
        const string traceId = "0af7651916cd43dd8448eb211c80319c";
        await GetItemsAsync(controlPlane, sidecar, "traceparent", $"00-{traceId}-b7ad6b7169203331-01");

        Assert.NotNull(app.Seen);
        var parts = app.Seen.Split('-');
        Assert.Equal(traceId, parts[1]);
        var parentId = Convert.FromHexString(parts[2]);
        // The span the app continues is exported, and it is HttpClient's client span, not the sidecar's server span.
        var traces = () => exports.Where(e => e.Path == "/v1/traces");
        await Eventually.UntilAsync(() => traces().Any(e => SpanKind(e.Body, parentId) is not null), Deadline,
            "the sidecar to export the span that is the app's parent");
        Assert.Equal(SpanKindClient, traces().Select(e => SpanKind(e.Body, parentId)).First(k => k is not null));
    }

    [Fact]
    public async Task Traceparent_WithoutATracer_ReachesTheAppUnchanged()
    {
        await using var app = await StartAppRecordingTraceparentAsync();
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(TracingTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Backend.Url);
        const string traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

        await GetItemsAsync(controlPlane, sidecar, "traceparent", traceparent);

        // The caller's span stays the parent, sampled as the caller decided: the sidecar records no span of its own.
        Assert.Equal(traceparent, app.Seen);
    }

    /// <summary>An app that keeps the traceparent of the last <c>GET /items</c> it served.</summary>
    private sealed class TraceparentApp(TestBackend backend) : IAsyncDisposable
    {
        public TestBackend Backend { get; } = backend;

        public string? Seen { get; set; }

        public ValueTask DisposeAsync() => Backend.DisposeAsync();
    }

    private static async Task<TraceparentApp> StartAppRecordingTraceparentAsync()
    {
        var app = new TraceparentApp(await TestBackend.StartAsync("app"));
        app.Backend.Handler = context =>
        {
            // Only the test's request: the sidecar's own probes of the app carry traces of their own.
            if (context.Request.Path == "/items")
            {
                app.Seen = context.Request.Headers["traceparent"].ToString();
            }

            return context.Response.WriteAsync("[]");
        };
        return app;
    }

    /// <summary>
    /// The kind (OTLP <c>Span.kind</c>, field 6) of the span with id <paramref name="spanId"/> in an OTLP protobuf body,
    /// or null when the body has no such span. Reads the span's fields that follow its id (field 2) until the kind,
    /// stopping at the next span (its trace id or span id, fields 1 and 2).
    /// </summary>
    private static int? SpanKind(byte[] body, byte[] spanId)
    {
        byte[] idField = [0x12, 0x08, .. spanId];
        var at = body.AsSpan().IndexOf(idField);
        if (at < 0)
        {
            return null;
        }

        var position = at + idField.Length;
        while (position < body.Length)
        {
            var tag = ReadVarint(body, ref position);
            var (field, wireType) = ((int)(tag >> 3), (int)(tag & 7));
            if (field == 6 && wireType == 0)
            {
                return (int)ReadVarint(body, ref position);
            }

            if (field is 1 or 2)
            {
                return null;
            }

            switch (wireType)
            {
                case 0:
                    ReadVarint(body, ref position);
                    break;
                case 1:
                    position += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(body, ref position);
                    position += length;
                    break;
                case 5:
                    position += 4;
                    break;
                default:
                    return null;
            }
        }

        return null;
    }

    private static ulong ReadVarint(byte[] body, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; position < body.Length && shift < 64; shift += 7)
        {
            var b = body[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                break;
            }
        }

        return value;
    }
}
