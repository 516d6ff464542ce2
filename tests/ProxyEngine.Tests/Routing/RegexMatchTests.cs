using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ProxyEngine.Tests.Routing;

/// <summary>Regular-expression matches: a route whose expression does not match falls through to the next route.</summary>
public sealed class RegexMatchTests
{
    private static async Task<string> ServedByAsync(EngineHost engine, string path, (string Name, string Value)? header = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = "shop";
        if (header is { } h)
        {
            request.Headers.Add(h.Name, h.Value);
        }

        using var response = await engine.Client.SendAsync(request);
        return response.StatusCode == HttpStatusCode.OK ? response.Headers.GetValues("x-backend").Single() : $"{(int)response.StatusCode}";
    }

    private static async Task<EngineHost> StartAsync(RouteSnapshot specific, Uri specificBackend, Uri fallbackBackend)
    {
        var engine = await EngineHost.StartAsync();
        var fallback = new RouteSnapshot("fallback", ["shop"], new PathMatchSnapshot(PathMatchTypes.PathPrefix, "/"), "general", Order: 1)
        {
            Backends = [new BackendReference { Name = "general" }],
        };
        Assert.Empty(await engine.ApplyAsync(new ProxySnapshot(1, [specific with { Order = 0 }, fallback],
        [
            new ClusterSnapshot("special", [new EndpointSnapshot("special-1", specificBackend.ToString().TrimEnd('/'))]),
            new ClusterSnapshot("general", [new EndpointSnapshot("general-1", fallbackBackend.ToString().TrimEnd('/'))]),
        ])));
        return engine;
    }

    [Fact]
    public async Task PathRegex_MatchingPath_TakesTheRouteOtherwiseTheNext()
    {
        await using var special = await TestBackend.StartAsync("special");
        await using var general = await TestBackend.StartAsync("general");
        var route = new RouteSnapshot("items", ["shop"], new PathMatchSnapshot(PathMatchTypes.RegularExpression, "/api/items/[0-9]+"), "special")
        {
            Backends = [new BackendReference { Name = "special" }],
        };
        await using var engine = await StartAsync(route, special.Url, general.Url);

        Assert.Equal("special", await ServedByAsync(engine, "/api/items/42"));
        Assert.Equal("general", await ServedByAsync(engine, "/api/items/abc"));
        Assert.Equal("general", await ServedByAsync(engine, "/api/items/42/reviews"));
    }

    [Fact]
    public async Task HeaderRegex_ValueMatches_TakesTheRoute()
    {
        await using var special = await TestBackend.StartAsync("special");
        await using var general = await TestBackend.StartAsync("general");
        var route = new RouteSnapshot("v2", ["shop"], new PathMatchSnapshot(PathMatchTypes.PathPrefix, "/"), "special")
        {
            Headers = [new HttpValueMatch { Name = "x-version", Type = MatchTypes.RegularExpression, Value = "v[23]" }],
            Backends = [new BackendReference { Name = "special" }],
        };
        await using var engine = await StartAsync(route, special.Url, general.Url);

        Assert.Equal("special", await ServedByAsync(engine, "/", ("x-version", "v3")));
        Assert.Equal("general", await ServedByAsync(engine, "/", ("x-version", "v4")));
        Assert.Equal("general", await ServedByAsync(engine, "/"));
    }

    [Fact]
    public async Task QueryRegex_ValueMatches_TakesTheRoute()
    {
        await using var special = await TestBackend.StartAsync("special");
        await using var general = await TestBackend.StartAsync("general");
        var route = new RouteSnapshot("debug", ["shop"], new PathMatchSnapshot(PathMatchTypes.PathPrefix, "/"), "special")
        {
            QueryParams = [new HttpValueMatch { Name = "tenant", Type = MatchTypes.RegularExpression, Value = "acme-[a-z]+" }],
            Backends = [new BackendReference { Name = "special" }],
        };
        await using var engine = await StartAsync(route, special.Url, general.Url);

        Assert.Equal("special", await ServedByAsync(engine, "/orders?tenant=acme-west"));
        Assert.Equal("general", await ServedByAsync(engine, "/orders?tenant=other"));
    }
}
