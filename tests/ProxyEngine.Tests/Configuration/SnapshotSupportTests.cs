using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Configuration;

namespace AspireMesh.ProxyEngine.Tests.Configuration;

/// <summary>What a proxy refuses of a snapshot, rather than failing when it applies it.</summary>
public sealed class SnapshotSupportTests
{
    [Fact]
    public void Unsupported_ACorsOriginThisBuildCannotRead_NamedWithItsRoute()
    {
        var cors = new HttpRouteFilter { Type = FilterTypes.Cors, Cors = new() { AllowOrigins = ["https://ok.example", "gopher://old.example"] } };
        var snapshot = new ProxySnapshot(1, [new RouteSnapshot("spa", null, null, "api") { Filters = [cors] }], []);

        Assert.Equal(["route 'spa': the CORS origin 'gopher://old.example' (has the scheme 'gopher'; an origin is http:// or https://)"], SnapshotSupport.Unsupported(snapshot));
    }

    [Fact]
    public void Unsupported_ACorsFilterOfValidOrigins_Nothing()
    {
        var cors = new HttpRouteFilter { Type = FilterTypes.Cors, Cors = new() { AllowOrigins = ["https://*.example.com", "http://[::1]:8080"] } };

        Assert.Empty(SnapshotSupport.Unsupported(new ProxySnapshot(1, [new RouteSnapshot("spa", null, null, "api") { Filters = [cors] }], [])));
    }
}
