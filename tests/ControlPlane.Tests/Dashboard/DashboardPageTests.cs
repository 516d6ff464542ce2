using System.Net;

namespace AspireMesh.ControlPlane.Tests.Dashboard;

/// <summary>The dashboard's static files, served from the control plane's assembly.</summary>
public sealed class DashboardPageTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Get_DashboardAndItsAssets_ServedWithContentTypesAndRevalidatingCacheHeaders()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DashboardPageTests).Assembly);

        using var page = await controlPlane.Http.GetAsync("dashboard/", Cancel);
        using var script = await controlPlane.Http.GetAsync("dashboard/dashboard.js", Cancel);
        using var style = await controlPlane.Http.GetAsync("dashboard/dashboard.css", Cancel);

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType!.ToString());
        Assert.Equal("text/javascript; charset=utf-8", script.Content.Headers.ContentType!.ToString());
        Assert.Equal("text/css; charset=utf-8", style.Content.Headers.ContentType!.ToString());
        foreach (var response in (HttpResponseMessage[])[page, script, style])
        {
            Assert.True(response.Headers.CacheControl!.NoCache);
            Assert.NotNull(response.Headers.ETag);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        }

        Assert.NotEqual(page.Headers.ETag!.Tag, script.Headers.ETag!.Tag);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync(Cancel);
        Assert.Contains("<script src=\"dashboard.js\" defer></script>", html, StringComparison.Ordinal);
        foreach (var section in (string[])["topology", "metrics", "instances", "config", "tap", "resources"])
        {
            Assert.Contains($"<section id=\"{section}\">", html, StringComparison.Ordinal);
        }

        Assert.Contains("new EventSource(", await script.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_WithCurrentETag_304WithoutBody()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DashboardPageTests).Assembly);
        using var first = await controlPlane.Http.GetAsync("dashboard/dashboard.js", Cancel);

        using var request = new HttpRequestMessage(HttpMethod.Get, "dashboard/dashboard.js");
        request.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var again = await controlPlane.Http.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.NotModified, again.StatusCode);
        Assert.Empty(await again.Content.ReadAsByteArrayAsync(Cancel));
        Assert.Equal(first.Headers.ETag, again.Headers.ETag);
    }

    [Fact]
    public async Task Get_WithoutSlashOrUnknownFile_RedirectedOr404()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DashboardPageTests).Assembly);
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = controlPlane.Url };

        using var bare = await http.GetAsync("dashboard", Cancel);
        using var root = await http.GetAsync("/", Cancel);
        using var missing = await http.GetAsync("dashboard/nope.js", Cancel);

        Assert.Equal((HttpStatusCode.Redirect, "/dashboard/"), (bare.StatusCode, bare.Headers.Location!.ToString()));
        Assert.Equal((HttpStatusCode.Redirect, "/dashboard/"), (root.StatusCode, root.Headers.Location!.ToString()));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }
}
