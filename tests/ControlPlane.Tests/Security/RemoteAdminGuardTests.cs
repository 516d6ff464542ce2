using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace AspireMesh.ControlPlane.Tests.Security;

/// <summary>
/// Credentials for the admin API and the dashboard off loopback. Test traffic stays on loopback, so the control plane is
/// told to treat loopback like any other network (<c>OpenOnLoopback=false</c>): the same check a remote caller meets.
/// </summary>
public sealed class RemoteAdminGuardTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task NotOpenOnLoopback_AdminApiAndDashboardNeedTheToken_ProxyFacingApiStaysOpen()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RemoteAdminGuardTests).Assembly, null, "--ControlPlane:OpenOnLoopback=false");

        using var stats = await controlPlane.Http.GetAsync("v1/stats", Cancel);
        using var proxies = await controlPlane.Http.GetAsync("v1/proxies", Cancel);
        using var dashboard = await controlPlane.Http.GetAsync("dashboard/", Cancel);
        using var services = await controlPlane.Http.GetAsync("v1/services", Cancel);
        using var bundle = await controlPlane.Http.GetAsync("v1/ca/bundle.pem", Cancel);
        using var withBearer = await controlPlane.Admin.GetAsync("v1/stats", Cancel);
        using var basic = new HttpRequestMessage(HttpMethod.Get, "dashboard/");
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{ControlPlaneProcess.AdminToken}")));
        using var withBasic = await controlPlane.Http.SendAsync(basic, Cancel);
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "v1/config");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token");
        using var withWrongToken = await controlPlane.Http.SendAsync(wrong, Cancel);

        Assert.Equal(HttpStatusCode.Unauthorized, stats.StatusCode);
        Assert.Contains("needs the admin token from outside this machine", await stats.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, proxies.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, dashboard.StatusCode);
        Assert.StartsWith("Basic", dashboard.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, withWrongToken.StatusCode);
        Assert.Equal(HttpStatusCode.OK, services.StatusCode);
        Assert.Equal(HttpStatusCode.OK, bundle.StatusCode);
        Assert.Equal(HttpStatusCode.OK, withBearer.StatusCode);
        Assert.Equal(HttpStatusCode.OK, withBasic.StatusCode);
    }

    [Fact]
    public async Task OpenOnLoopback_Default_LocalReadsNeedNoToken()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RemoteAdminGuardTests).Assembly);

        using var stats = await controlPlane.Http.GetAsync("v1/stats", Cancel);
        using var dashboard = await controlPlane.Http.GetAsync("dashboard/", Cancel);

        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
    }
}
