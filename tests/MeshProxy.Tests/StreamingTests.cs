using System.Net;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>Large bodies stream through a real sidecar process without being buffered whole.</summary>
public sealed class StreamingTests
{
    private const long Size = 200L * 1024 * 1024;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>The process's peak resident memory (VmHWM), in MiB.</summary>
    private static long PeakMemoryMiB(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
            System.Globalization.CultureInfo.InvariantCulture) / 1024;

    private sealed class PatternContent(long length) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)'m');
            for (long sent = 0; sent < length; sent += chunk.Length)
            {
                await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, length - sent)));
            }
        }

        protected override bool TryComputeLength(out long size)
        {
            size = length;
            return true;
        }
    }

    [Fact]
    public async Task Upload200MB_ThroughInbound_ArrivesWholeWhileSidecarMemoryStaysFlat()
    {
        long received = 0;
        await using var app = await TestBackend.StartAsync("app");
        app.Handler = async context =>
        {
            if (context.Request.Path == "/health")
            {
                return;
            }

            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                received += read;
            }

            await context.Response.WriteAsync($"{received}");
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(StreamingTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "files", "files-1", app.Url);
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        var before = PeakMemoryMiB(sidecar.Process.Id);

        using var response = await http.PostAsync(new Uri(sidecar.Inbound, "upload"), new PatternContent(Size), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{Size}", await response.Content.ReadAsStringAsync(Cancel));
        Assert.True(PeakMemoryMiB(sidecar.Process.Id) - before < 100, $"the sidecar's peak memory grew from {before} MiB to {PeakMemoryMiB(sidecar.Process.Id)} MiB for a {Size >> 20} MiB upload");
    }

    [Fact]
    public async Task Download200MB_ThroughInbound_ArrivesWholeWhileSidecarMemoryStaysFlat()
    {
        await using var app = await TestBackend.StartAsync("app");
        app.Handler = async context =>
        {
            if (context.Request.Path == "/health")
            {
                return;
            }

            context.Response.ContentLength = Size;
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < Size; sent += chunk.Length)
            {
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, Size - sent)), context.RequestAborted);
            }
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(StreamingTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "files", "files-1", app.Url);
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        var before = PeakMemoryMiB(sidecar.Process.Id);

        using var response = await http.GetAsync(new Uri(sidecar.Inbound, "download"), HttpCompletionOption.ResponseHeadersRead, Cancel);
        await using var body = await response.Content.ReadAsStreamAsync(Cancel);
        long total = 0;
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await body.ReadAsync(buffer, Cancel)) > 0)
        {
            total += read;
        }

        Assert.Equal(Size, total);
        Assert.Equal("files-1", response.Headers.GetValues(MeshHeaders.Instance).Single());
        Assert.True(PeakMemoryMiB(sidecar.Process.Id) - before < 100, $"the sidecar's peak memory grew from {before} MiB to {PeakMemoryMiB(sidecar.Process.Id)} MiB for a {Size >> 20} MiB download");
    }
}
