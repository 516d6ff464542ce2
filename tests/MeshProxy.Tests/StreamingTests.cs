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

    /// <summary>An app that counts the bytes of each upload and answers with the count.</summary>
    private static async Task<TestBackend> StartCountingAppAsync()
    {
        var app = await TestBackend.StartAsync("app");
        app.Handler = async context =>
        {
            if (context.Request.Path == "/health")
            {
                return;
            }

            long received = 0;
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                received += read;
            }

            await context.Response.WriteAsync($"{received}");
        };
        return app;
    }

    [Fact]
    public async Task Upload200MB_ThroughSidecarPairOverHttp2_ArrivesWholeWhileBothSidecarsStayFlat()
    {
        await using var callerApp = await TestBackend.StartAsync("caller-app");
        await using var app = await StartCountingAppAsync();
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(StreamingTests).Assembly);
        await using var caller = await SidecarProcess.StartAsync(controlPlane, "caller", "caller-1", callerApp.Url);
        await using var files = await SidecarProcess.StartAsync(controlPlane, "files", "files-1", app.Url, "--access-log");
        using var http = new HttpClient(new HttpClientHandler { Proxy = new WebProxy(caller.Outbound), UseProxy = true }) { Timeout = TimeSpan.FromMinutes(5) };
        await Eventually.UntilAsync(async () =>
        {
            using var probe = await http.PostAsync("http://files/probe", new StringContent("x"), Cancel);
            return probe.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(30), "caller's sidecar to route to files");
        var before = (Caller: PeakMemoryMiB(caller.Process.Id), Files: PeakMemoryMiB(files.Process.Id));

        using var response = await http.PostAsync("http://files/upload", new PatternContent(Size), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{Size}", await response.Content.ReadAsStringAsync(Cancel));
        await files.Process.WaitForLineAsync(@"access inbound POST [^ ]+/upload HTTP/2 200", TimeSpan.FromSeconds(30));
        Assert.True(PeakMemoryMiB(caller.Process.Id) - before.Caller < 100, $"the caller's sidecar peak memory grew from {before.Caller} MiB to {PeakMemoryMiB(caller.Process.Id)} MiB");
        Assert.True(PeakMemoryMiB(files.Process.Id) - before.Files < 100, $"the files sidecar's peak memory grew from {before.Files} MiB to {PeakMemoryMiB(files.Process.Id)} MiB");
    }

    [Fact]
    public async Task Upload200MB_ThroughInbound_ArrivesWholeWhileSidecarMemoryStaysFlat()
    {
        await using var app = await StartCountingAppAsync();
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(StreamingTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "files", "files-1", app.Url);
        // Sent as a peer's sidecar sends it: over mTLS.
        using var peer = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "uploader");
        using var http = peer.Client();
        http.Timeout = TimeSpan.FromMinutes(5);
        var before = PeakMemoryMiB(sidecar.Process.Id);

        using var response = await http.PostAsync(new Uri(MeshIdentity.Secure(sidecar.Inbound), "upload"), new PatternContent(Size), Cancel);

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
        // Fetched as a peer's sidecar fetches it: over mTLS.
        using var peer = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "downloader");
        using var http = peer.Client();
        http.Timeout = TimeSpan.FromMinutes(5);
        var before = PeakMemoryMiB(sidecar.Process.Id);

        using var response = await http.GetAsync(new Uri(MeshIdentity.Secure(sidecar.Inbound), "download"), HttpCompletionOption.ResponseHeadersRead, Cancel);
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
