using System.Net;
using System.Text.Json;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// The gateway's <c>--io</c> modes: where requests run (on the socket event threads or on the thread pool), and that
/// every entry point still serves.
/// </summary>
public sealed class IoModeTests
{
    private const int Requests = 200;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task IoInline_PlainHttp11AndHttp2OverTls_BothForwarded()
    {
        await using var api = await TestBackend.StartAsync("api-app");
        await using var gateway = await GatewayProcess.StartAsync(HttpsTests.Config, https: true, arguments: ["--io", "inline"]);
        var thumbprint = (await gateway.Process.WaitForLineAsync(@"thumbprint (?<thumbprint>[0-9A-F]{40})", GatewayProcess.Deadline)).Groups["thumbprint"].Value;
        await gateway.RegisterAsync("api", api, "/api");
        using var https = HttpsTests.HttpsClient(gateway, thumbprint, version: HttpVersion.Version20);

        using var plain = await gateway.Client.GetAsync("/api/items?via=http1", Cancel);
        using var h2 = await https.GetAsync("/api/items?via=h2", Cancel);

        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version11, "api-app GET /api/items"), (plain.StatusCode, plain.Version, await plain.Content.ReadAsStringAsync(Cancel)));
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version20, "api-app GET /api/items"), (h2.StatusCode, h2.Version, await h2.Content.ReadAsStringAsync(Cancel)));
        Assert.Contains("GET /api/items?via=h2", api.Requests);
    }

    /// <summary>
    /// By default (<c>--io auto</c>) a request on the plain HTTP/1.1 listener is read, forwarded and answered without
    /// being handed to the thread pool, while the HTTPS listener keeps the pool; with <c>--io pool</c> plain requests are
    /// handed to it too, and with <c>--io inline</c> HTTPS ones are not. Read from the thread pool's count of completed
    /// work items (<c>/debug/runtime</c>) over <see cref="Requests"/> HTTP/1.1 requests, one at a time: each hand-off is
    /// at least one work item. (HTTP/2 would not tell: Kestrel hands each of its streams to the pool in every mode.)
    /// </summary>
    [Theory]
    [InlineData(null, "http", false)]
    [InlineData(null, "https", true)]
    [InlineData("pool", "http", true)]
    [InlineData("inline", "https", false)]
    public async Task Http11Requests_RunInlineOnlyOnThePlainListenerByDefault(string? io, string entry, bool handedToPool)
    {
        await using var api = await TestBackend.StartAsync("api-app");
        await using var gateway = await GatewayProcess.StartAsync(HttpsTests.Config, https: true, arguments: io is null ? [] : ["--io", io]);
        var thumbprint = (await gateway.Process.WaitForLineAsync(@"thumbprint (?<thumbprint>[0-9A-F]{40})", GatewayProcess.Deadline)).Groups["thumbprint"].Value;
        await gateway.RegisterAsync("api", api, "/api");
        using var https = HttpsTests.HttpsClient(gateway, thumbprint, version: HttpVersion.Version11);
        var client = entry == "https" ? https : gateway.Client;
        using var admin = new HttpClient { BaseAddress = gateway.AdminUrl };
        await SendAsync(client, 20);

        var before = await WorkItemsAsync(admin);
        await SendAsync(client, Requests);
        var perRequest = (double)(await WorkItemsAsync(admin) - before) / Requests;

        Assert.Equal(io ?? "auto", (await RuntimeAsync(admin)).RootElement.GetProperty("io").GetString());
        if (handedToPool)
        {
            Assert.True(perRequest >= 1, $"{perRequest:0.00} thread-pool work items per request; a request handed to the pool takes at least one");
        }
        else
        {
            // What remains is the gateway's background work (timers, its watch on the control plane, the admin call).
            Assert.True(perRequest < 0.5, $"{perRequest:0.00} thread-pool work items per request; inline, requests take none");
        }
    }

    private static async Task SendAsync(HttpClient client, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await client.GetAsync("/api/items", Cancel);
            Assert.Equal((HttpStatusCode.OK, HttpVersion.Version11), (response.StatusCode, response.Version));
        }
    }

    private static async Task<long> WorkItemsAsync(HttpClient admin)
    {
        using var runtime = await RuntimeAsync(admin);
        return runtime.RootElement.GetProperty("threadPoolWorkItems").GetInt64();
    }

    private static async Task<JsonDocument> RuntimeAsync(HttpClient admin) =>
        JsonDocument.Parse(await admin.GetStringAsync(new Uri("debug/runtime", UriKind.Relative), Cancel));
}
