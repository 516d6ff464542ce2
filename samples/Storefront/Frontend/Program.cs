// frontend: the storefront's entry. GET /api/products asks catalog (http://catalog/, through the sidecar), which asks inventory.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddHttpClient("catalog", c => c.BaseAddress = new Uri(builder.Configuration["services:catalog:http:0"] ?? "http://catalog"));
var app = builder.Build();
app.MapDefaultEndpoints();

var instance = Environment.GetEnvironmentVariable("ASPIREMESH_INSTANCE_ID") ?? Environment.MachineName;

app.MapGet("/api/products", async (IHttpClientFactory clients, CancellationToken cancellationToken) =>
{
    using var response = await clients.CreateClient("catalog").GetAsync("/api/items", cancellationToken);
    if (!response.IsSuccessStatusCode)
    {
        return Results.Problem(
            detail: $"catalog answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}",
            statusCode: response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status502BadGateway,
            title: "catalog is unavailable");
    }

    var catalog = await response.Content.ReadFromJsonAsync<CatalogResponse>(cancellationToken);
    var servedBy = new Dictionary<string, string>(catalog?.ServedBy ?? new Dictionary<string, string>()) { ["frontend"] = instance };
    if (response.Headers.TryGetValues("x-mesh-instance", out var served))
    {
        servedBy["catalog"] = served.First();
    }

    var traces = new Dictionary<string, string>(catalog?.Traces ?? new Dictionary<string, string>())
    {
        ["frontend"] = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? "",
    };
    return Results.Ok(new ProductsResponse(catalog?.Products ?? [], servedBy, traces));
});

app.MapGet("/", () => Results.Content("""
    <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Storefront</title></head>
    <body><h1>Storefront</h1><p>Served through AspireMesh. Products, from frontend -> catalog -> inventory:</p>
    <pre id="products">loading…</pre>
    <script>fetch('/api/products').then(r => r.json()).then(j => document.getElementById('products').textContent = JSON.stringify(j, null, 2));</script>
    </body></html>
    """, "text/html; charset=utf-8"));

app.Run();

internal sealed record CatalogItem(string Sku, string Name, decimal Price, int Stock);

internal sealed record CatalogResponse(IReadOnlyList<CatalogItem> Products, IReadOnlyDictionary<string, string> ServedBy, IReadOnlyDictionary<string, string>? Traces);

/// <summary>The products, who served them, and the trace id each service saw (all equal: one trace per request).</summary>
internal sealed record ProductsResponse(IReadOnlyList<CatalogItem> Products, IReadOnlyDictionary<string, string> ServedBy, IReadOnlyDictionary<string, string> Traces);
