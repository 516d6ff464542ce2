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
    /// Two client sidecars call the same peer over mTLS HTTP/2: one with the default (<c>--io auto</c>), one with
    /// <c>--io pool</c>. With pool, a request read on the outbound listener is handed to the thread pool at least twice
    /// before it is forwarded (the socket's completion, Kestrel's queue to the application); inline, neither happens, and
    /// what is left is the HTTP/2 hop's. Read from each sidecar's count of completed thread-pool work items
    /// (<c>/debug/runtime</c>) over <see cref="Requests"/> requests, one at a time.
    /// </summary>
    [Fact]
    public async Task Outbound_ByDefault_FewerThreadPoolHandOffsThanPool()
    {
        await using var appA = await TestBackend.StartAsync("frontend-app");
        await using var appB = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(IoModeTests).Assembly, null);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var auto = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", appA.Url);
        await using var pool = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-2", appB.Url, "--io", "pool");
        using var admin = new HttpClient();

        var autoPerRequest = await WorkItemsPerRequestAsync(auto, admin);
        var poolPerRequest = await WorkItemsPerRequestAsync(pool, admin);

        Assert.Equal("auto", await IoModeAsync(auto, admin));
        Assert.True(autoPerRequest <= poolPerRequest - 2,
            $"{autoPerRequest:0.00} thread-pool work items per request by default, {poolPerRequest:0.00} with --io pool: the outbound listener did not run inline");
    }

    private static async Task<double> WorkItemsPerRequestAsync(SidecarProcess sidecar, HttpClient admin)
    {
        using var client = sidecar.OutboundClient();
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync("http://catalog/items", Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, Deadline, "the sidecar to route http://catalog/");
        await SendAsync(client, 20);

        var before = await RuntimeValueAsync(sidecar, admin, "threadPoolWorkItems");
        await SendAsync(client, Requests);
        return (double)(long.Parse(await RuntimeValueAsync(sidecar, admin, "threadPoolWorkItems"), System.Globalization.CultureInfo.InvariantCulture)
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

    private static Task<string> IoModeAsync(SidecarProcess sidecar, HttpClient admin) => RuntimeValueAsync(sidecar, admin, "io");

    private static async Task<string> RuntimeValueAsync(SidecarProcess sidecar, HttpClient admin, string name)
    {
        using var runtime = JsonDocument.Parse(await admin.GetStringAsync(new Uri(sidecar.Admin, "debug/runtime"), Cancel));
        return runtime.RootElement.GetProperty(name).ToString();
    }
}
