// catalog: product names and prices, joined with stock levels it asks inventory for (http://inventory/, through the sidecar).
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddHttpClient("inventory", c => c.BaseAddress = new Uri(builder.Configuration["services:inventory:http:0"] ?? "http://inventory"));
var app = builder.Build();
app.MapDefaultEndpoints();

var instance = Environment.GetEnvironmentVariable("ASPIREMESH_INSTANCE_ID") ?? Environment.MachineName;
Product[] products = [new("SKU-001", "Espresso cup", 9.5m), new("SKU-002", "Milk jug", 14m), new("SKU-003", "Tamper", 22.9m)];

app.MapGet("/api/items", async (IHttpClientFactory clients, CancellationToken cancellationToken) =>
{
    using var response = await clients.CreateClient("inventory").GetAsync("/api/stock", cancellationToken);
    if (!response.IsSuccessStatusCode)
    {
        return Results.Problem(
            detail: $"inventory answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}",
            statusCode: response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status502BadGateway,
            title: "inventory is unavailable");
    }

    var stock = await response.Content.ReadFromJsonAsync<StockResponse>(cancellationToken);
    var levels = stock?.Items.ToDictionary(i => i.Sku, i => i.Quantity) ?? [];
    var servedBy = new Dictionary<string, string>
    {
        ["catalog"] = instance,
        ["inventory"] = response.Headers.TryGetValues("x-mesh-instance", out var served) ? served.First() : stock?.Instance ?? "unknown",
    };
    var traces = new Dictionary<string, string>
    {
        ["catalog"] = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? "",
        ["inventory"] = stock?.TraceId ?? "",
    };
    return Results.Ok(new CatalogResponse([.. products.Select(p => new CatalogItem(p.Sku, p.Name, p.Price, levels.GetValueOrDefault(p.Sku)))], servedBy, traces));
});

app.Run();

internal sealed record Product(string Sku, string Name, decimal Price);

internal sealed record StockLevel(string Sku, int Quantity);

internal sealed record StockResponse(string Instance, IReadOnlyList<StockLevel> Items, string TraceId);

internal sealed record CatalogItem(string Sku, string Name, decimal Price, int Stock);

internal sealed record CatalogResponse(IReadOnlyList<CatalogItem> Products, IReadOnlyDictionary<string, string> ServedBy, IReadOnlyDictionary<string, string> Traces);
