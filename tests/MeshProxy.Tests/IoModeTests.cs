using System.Net;
using System.Text.Json;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>The sidecar's <c>--io</c>: by default (auto) its outbound HTTP/1.1 listener runs requests inline.</summary>
public sealed class IoModeTests
{
    private const int Requests = 200;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>
    /// Three client sidecars call the same peer over mTLS HTTP/2: one with the default (<c>--io auto</c>), one with
    /// <c>--io inline</c> and one with <c>--io pool</c>. Read from each one's count of completed thread-pool work items
    /// (<c>/debug/runtime</c>) over <see cref="Requests"/> requests, one at a time: by default a request read on the
    /// outbound listener is handed between threads as seldom as with every listener inline (what is left is the HTTP/2
    /// hop's), and at least twice less often than with the pool (the socket's completion, Kestrel's queue to the
    /// application). The runtime's inline completions alone, without the listener running inline, leave about two of
    /// those hand-offs.
    /// </summary>
    [Fact]
    public async Task Outbound_ByDefault_HandedBetweenThreadsAsSeldomAsInline()
    {
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(IoModeTests).Assembly, null);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var app = await TestBackend.StartAsync("frontend-app");
        await using var auto = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);
        await using var inline = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-2", app.Url, "--io", "inline");
        await using var pool = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-3", app.Url, "--io", "pool");

        var autoPerRequest = await WorkItemsPerRequestAsync(auto);
        var inlinePerRequest = await WorkItemsPerRequestAsync(inline);
        var poolPerRequest = await WorkItemsPerRequestAsync(pool);

        Assert.Equal("auto", await RuntimeValueAsync(auto, "io"));
        var measured = $"thread-pool work items per request: {autoPerRequest:0.00} by default, {inlinePerRequest:0.00} inline, {poolPerRequest:0.00} with the pool";
        Assert.True(autoPerRequest <= inlinePerRequest + 1, measured);
        Assert.True(autoPerRequest <= poolPerRequest - 2, measured);
    }

    private static async Task<double> WorkItemsPerRequestAsync(SidecarProcess sidecar)
    {
        using var client = sidecar.OutboundClient();
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync("http://catalog/items", Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, Deadline, "the sidecar to route http://catalog/");
        await SendAsync(client, 20);

        var before = await RuntimeValueAsync(sidecar, "threadPoolWorkItems");
        await SendAsync(client, Requests);
        return (double)(long.Parse(await RuntimeValueAsync(sidecar, "threadPoolWorkItems"), System.Globalization.CultureInfo.InvariantCulture)
            - long.Parse(before, System.Globalization.CultureInfo.InvariantCulture)) / Requests;
    }

    private static async Task SendAsync(HttpClient client, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await client.GetAsync("http://catalog/items", Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    private static async Task<string> RuntimeValueAsync(SidecarProcess sidecar, string name)
    {
        using var runtime = await sidecar.RuntimeAsync();
        return runtime.RootElement.GetProperty(name).ToString();
    }
}
