using System.Net;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>Structured access logs, one line per request, switchable per proxy while it runs.</summary>
public sealed class AccessLogTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AccessLog_OnThenSwitchedOffThenOn_OneLinePerRequestOnlyWhileOn()
    {
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(AccessLogTests).Assembly);
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", app.Url, "--access-log");
        using var http = new HttpClient();
        // Called as the frontend's sidecar calls it: mTLS with a frontend certificate, which names the source.
        using var frontend = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var peer = frontend.Client();
        var inbound = MeshIdentity.Secure(sidecar.Inbound);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(inbound, "items/1"));

        using (var response = await peer.SendAsync(request, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await sidecar.Process.WaitForLineAsync(@"access inbound GET [^ ]+/items/1 HTTP/1\.1 200 [0-9.]+ms source=frontend destination=catalog", Deadline);

        using (var off = await http.PutAsync(new Uri(sidecar.Admin, "access-log?enabled=false"), null, Cancel))
        {
            Assert.Equal("off\n", await off.Content.ReadAsStringAsync(Cancel));
        }

        using (await peer.GetAsync(new Uri(inbound, "quiet"), Cancel))
        {
        }

        using (await http.PutAsync(new Uri(sidecar.Admin, "access-log?enabled=true"), null, Cancel))
        {
        }

        using (await peer.GetAsync(new Uri(inbound, "loud"), Cancel))
        {
        }

        // Lines are written in order: once /loud's line is out, a line for /quiet would already be there.
        await sidecar.Process.WaitForLineAsync(@"access inbound GET [^ ]+/loud HTTP/1\.1 200", Deadline);
        Assert.DoesNotContain("/quiet", sidecar.Process.Output, StringComparison.Ordinal);
    }
}
