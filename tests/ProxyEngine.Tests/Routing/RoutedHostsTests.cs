using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Routing;

namespace AspireMesh.ProxyEngine.Tests.Routing;

public sealed class RoutedHostsTests
{
    private static RoutedHosts With(params IReadOnlyList<string>?[] hosts)
    {
        var routed = new RoutedHosts();
        routed.Apply([.. hosts.Select((h, i) => new RouteSnapshot($"r{i}", h, null, "c"))]);
        return routed;
    }

    [Fact]
    public void Accepts_ExactHost_CaseInsensitiveAndNothingElse()
    {
        var hosts = With(["catalog"], ["inventory"]);

        Assert.True(hosts.Accepts("catalog"));
        Assert.True(hosts.Accepts("Inventory"));
        Assert.False(hosts.Accepts("example.com"));
        Assert.False(hosts.Accepts("catalog.evil"));
    }

    [Fact]
    public void Accepts_WildcardHost_MatchesSubdomainsOnly()
    {
        var hosts = With(["*.example.com"]);

        Assert.True(hosts.Accepts("api.example.com"));
        Assert.False(hosts.Accepts("example.com"));
        Assert.False(hosts.Accepts("badexample.com"));
    }

    [Fact]
    public void Accepts_RouteWithoutHosts_AcceptsAnyHost()
    {
        Assert.True(With(["catalog"], null).Accepts("anything.test"));
    }

    [Fact]
    public void Accepts_AfterNewSnapshot_FollowsItsRoutes()
    {
        var hosts = With(["catalog"]);

        hosts.Apply([new RouteSnapshot("r", ["inventory"], null, "c")]);

        Assert.False(hosts.Accepts("catalog"));
        Assert.True(hosts.Accepts("inventory"));
    }
}
