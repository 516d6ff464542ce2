// inventory: stock levels per SKU. The leaf of the storefront's call chain: frontend -> catalog -> inventory.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
var app = builder.Build();
app.MapDefaultEndpoints();

var instance = Environment.GetEnvironmentVariable("ASPIREMESH_INSTANCE_ID") ?? Environment.MachineName;
StockLevel[] stock = [new("SKU-001", 42), new("SKU-002", 0), new("SKU-003", 7)];
// The trace id this instance saw: the mesh carries W3C trace context across every hop, so it is the caller's.
app.MapGet("/api/stock", () => new StockResponse(instance, stock, System.Diagnostics.Activity.Current?.TraceId.ToString() ?? ""));

app.Run();

internal sealed record StockLevel(string Sku, int Quantity);

internal sealed record StockResponse(string Instance, IReadOnlyList<StockLevel> Items, string TraceId);
