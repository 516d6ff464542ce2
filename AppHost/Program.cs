using AspireMesh.Hosting.Model;

// The storefront: gateway -> frontend -> catalog (2 replicas) -> inventory, every instance with its own sidecar.
var builder = MeshApplication.CreateBuilder(args);

var inventory = builder.AddProject("inventory", "../samples/Storefront/Inventory/Inventory.csproj");
// Round robin makes the balancing visible in the sample (servedBy alternates); the mesh default is
// power of two choices over peak latency, which favours the faster replica.
var catalog = builder.AddProject("catalog", "../samples/Storefront/Catalog/Catalog.csproj")
    .WithReplicas(2)
    .WithLoadBalancer("RoundRobin")
    .WithReference(inventory);
var frontend = builder.AddProject("frontend", "../samples/Storefront/Frontend/Frontend.csproj")
    .WithReference(catalog);

builder.AddGateway("gateway")
    .WithExactRoute("/", frontend)
    .WithRoute("/api", frontend);

try
{
    return await builder.Build().RunAsync();
}
catch (TopologyException ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 1;
}
