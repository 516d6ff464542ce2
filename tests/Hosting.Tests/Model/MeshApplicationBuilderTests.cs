using AspireMesh.Hosting.Model;

namespace AspireMesh.Hosting.Tests.Model;

public sealed class MeshApplicationBuilderTests
{
    private static string Inventory => Path.Combine(BuiltProjects.RepositoryRoot(typeof(MeshApplicationBuilderTests).Assembly), "samples/Storefront/Inventory/Inventory.csproj");

    private static MeshApplicationBuilder Builder(params string[] args) => MeshApplicationBuilder.Create(args, typeof(MeshApplicationBuilderTests).Assembly);

    [Fact]
    public void Build_ValidModel_ProducesMeshConfigWithServicesReferencesAndRoutes()
    {
        var builder = Builder();
        var inventory = builder.AddProject("inventory", Inventory).WithReplicas(2);
        var catalog = builder.AddProject("catalog", Inventory).WithReference(inventory);
        builder.AddGateway("gateway").WithExactRoute("/", catalog).WithRoute("/api", catalog);

        var app = builder.Build();

        Assert.Equal(["inventory", "catalog"], app.Config.Services.Select(s => s.Name));
        Assert.Equal(["inventory"], app.Config.Services[1].References);
        Assert.Equal([("Exact", "/"), ("PathPrefix", "/api")], app.Config.Routes.Select(r => (r.Rules[0].Matches[0].Path!.Type, r.Rules[0].Matches[0].Path!.Value)));
        Assert.All(app.Config.Routes, r => Assert.Equal("gateway", r.ParentRefs.Single().Name));
        Assert.Equal(2, app.Projects[0].Replicas);
    }

    [Fact]
    public void Build_ReferenceToUndeclaredService_NamesBothServices()
    {
        var builder = Builder();
        builder.AddProject("frontend", Inventory).WithReference("payments");

        var error = Assert.Throws<TopologyException>(builder.Build);

        Assert.Equal(["service 'frontend' references 'payments', which is not a declared service."], error.Errors);
    }

    [Fact]
    public void Build_DuplicateNames_ReportedIncludingClashWithTheControlPlane()
    {
        var builder = Builder();
        builder.AddProject("catalog", Inventory);
        builder.AddProject("catalog", Inventory);
        builder.AddGateway("controlplane");

        var error = Assert.Throws<TopologyException>(builder.Build);

        Assert.Equal(
        [
            "service 'catalog': the name is already used by service 'catalog'.",
            "gateway 'controlplane': the name is already used by the control plane 'controlplane'.",
        ], error.Errors);
    }

    [Fact]
    public void Build_EveryKindOfProblem_AllReportedAtOnce()
    {
        var builder = Builder("--gateway-port", "http");
        builder.AddProject("Catalog", Inventory);
        builder.AddProject("orders", "../nowhere/Orders.csproj").WithReplicas(0);
        builder.AddGateway("gateway").WithRoute("api", "missing", "PathPrefix").WithRoute("/x", "orders", "Regex");

        var error = Assert.Throws<TopologyException>(builder.Build);

        Assert.Equal(7, error.Errors.Count);
        Assert.Contains(error.Errors, e => e.StartsWith("--gateway-port (AppHost:GatewayPort): 'http' is not a port number", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.StartsWith("service 'Catalog': the name must be", StringComparison.Ordinal));
        Assert.Contains("service 'orders': replicas must be between 1 and 50, not 0.", error.Errors);
        Assert.Contains(error.Errors, e => e.StartsWith("service 'orders': project file '", StringComparison.Ordinal) && e.EndsWith("Orders.csproj' does not exist.", StringComparison.Ordinal));
        Assert.Contains("gateway 'gateway': route 'api' goes to 'missing', which is not a declared service.", error.Errors);
        Assert.Contains("gateway 'gateway': route path 'api' must start with '/'.", error.Errors);
        Assert.Contains(error.Errors, e => e.Contains("match type 'Regex'", StringComparison.Ordinal));
    }

    [Fact]
    public void Create_UnknownArgument_RefusedAtBuild()
    {
        var builder = Builder("--gateway", "9090");

        var error = Assert.Throws<TopologyException>(builder.Build);

        Assert.StartsWith("unknown argument '--gateway'.", Assert.Single(error.Errors, e => e.Contains("--gateway'", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Fact]
    public void Create_PortOptions_OverrideDefaults()
    {
        var builder = Builder("--gateway-port", "9090", "--controlplane-port", "0");

        Assert.Equal(9090, builder.Options.GatewayPort);
        Assert.Equal(0, builder.Options.ControlPlanePort);
    }

    [Fact]
    public void Create_NoArguments_DefaultsAre8080And8761()
    {
        var builder = Builder();

        Assert.Equal(8080, builder.Options.GatewayPort);
        Assert.Equal(8761, builder.Options.ControlPlanePort);
    }
}
