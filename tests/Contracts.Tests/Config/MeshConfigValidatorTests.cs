using AspireMesh.Contracts.Config;

namespace AspireMesh.Contracts.Tests.Config;

public sealed class MeshConfigValidatorTests
{
    private static HttpRouteConfig Route(string name, string backend, string gateway = "gateway", int weight = 1, string type = "PathPrefix", string path = "/") => new()
    {
        Name = name,
        ParentRefs = [new() { Name = gateway }],
        Rules = [new() { Matches = [new() { Path = new() { Type = type, Value = path } }], BackendRefs = [new() { Name = backend, Weight = weight }] }],
    };

    [Fact]
    public void Validate_ValidConfig_NoErrors()
    {
        var config = new MeshConfig
        {
            Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog" }],
            Routes = [Route("web", "frontend")],
        };

        Assert.Empty(MeshConfigValidator.Validate(config));
    }

    [Fact]
    public void Validate_ManyProblems_ReportsEachWithItsPath()
    {
        var config = new MeshConfig
        {
            Services = [new() { Name = "catalog" }, new() { Name = "catalog" }, new() { Name = "Bad_Name" }, new() { Name = "frontend", References = ["payments"] }],
            Routes =
            [
                Route("web", "frontend"),
                Route("web", "inventory", type: "Regex", path: "api"),
                Route("zero", "frontend", weight: 0),
                new() { Name = "", Rules = [] },
            ],
        };

        var errors = MeshConfigValidator.Validate(config).Select(e => e.ToString()).ToList();

        Assert.Equal(
        [
            "services[1].name: service 'catalog' is declared more than once.",
            "services[2].name: 'Bad_Name' is not a valid service name: use 1-63 lower-case letters, digits or '-', starting with a letter.",
            "services[3].references[0]: service 'frontend' references 'payments', which is not a declared service.",
            "routes[1].name: route 'web' is declared more than once.",
            "routes[1].rules[0].matches[0].path.type: 'Regex' is not a supported path match type; use Exact or PathPrefix.",
            "routes[1].rules[0].matches[0].path.value: 'api' must be an absolute path starting with '/'.",
            "routes[1].rules[0].backendRefs[0].name: 'inventory' is not a declared service.",
            "routes[2].rules[0].backendRefs: the backend weights sum to 0, so no request could be sent anywhere.",
            "routes[3].name: a route needs a name.",
            "routes[3].parentRefs: a route must attach to at least one gateway.",
            "routes[3].rules: a route needs at least one rule.",
        ], errors);
    }

    [Theory]
    [InlineData("catalog", true)]
    [InlineData("catalog-2", true)]
    [InlineData("a", true)]
    [InlineData("Catalog", false)]
    [InlineData("2catalog", false)]
    [InlineData("catalog-", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void IsDnsLabel_Name_MatchesRfc1123Label(string? name, bool expected) =>
        Assert.Equal(expected, MeshConfigValidator.IsDnsLabel(name));
}
