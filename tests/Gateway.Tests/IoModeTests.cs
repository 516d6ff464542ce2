using System.Net;

namespace AspireMesh.Gateway.Tests;

/// <summary>The gateway with <c>--io inline</c>: requests run on the socket event threads, and every entry point still serves.</summary>
public sealed class IoModeTests
{
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
}
