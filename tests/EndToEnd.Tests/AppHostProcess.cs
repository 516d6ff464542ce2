using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace AspireMesh.EndToEnd.Tests;

/// <summary>The AppHost run as a user runs it, as a real process with its whole mesh, on free ports.</summary>
internal sealed class AppHostProcess : IAsyncDisposable
{
    private AppHostProcess(TestProcess process, string runId)
    {
        Process = process;
        RunId = runId;
    }

    public TestProcess Process { get; }

    /// <summary>Every process of this run carries ASPIREMESH_RUN_ID=RunId in its environment.</summary>
    public string RunId { get; }

    public Uri Gateway { get; private set; } = null!;

    public Uri ControlPlane { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    /// <summary>The admin token the AppHost printed.</summary>
    public string AdminToken { get; private set; } = null!;

    public static string Assembly => BuiltProjects.Assembly(typeof(AppHostProcess).Assembly, "AppHost.csproj");

    /// <summary>Starts the AppHost without waiting for it to be ready.</summary>
    public static async Task<AppHostProcess> LaunchAsync(params string[] args)
    {
        var runId = $"e2e-{Guid.NewGuid():N}";
        var process = await TestProcess.StartDotnetAsync("apphost", Assembly, args,
            new Dictionary<string, string> { ["ASPIREMESH_RUN_ID"] = runId, ["NO_COLOR"] = "1" });
        return new AppHostProcess(process, runId);
    }

    /// <summary>Starts the AppHost on free ports and waits for its ready lines.</summary>
    public static async Task<AppHostProcess> StartAsync()
    {
        var mesh = await LaunchAsync("--gateway-port", "0", "--controlplane-port", "0");
        try
        {
            // The admin token is the last of the ready lines: once it is in, the others are too.
            mesh.AdminToken = (await mesh.Process.WaitForLineAsync(@"^Admin token \(for PUT \S+\): (\S+)$", TimeSpan.FromMinutes(3))).Groups[1].Value;
            mesh.Gateway = new Uri((await mesh.Process.WaitForLineAsync(@"^Gateway: (\S+)$", TimeSpan.FromSeconds(1))).Groups[1].Value);
            mesh.ControlPlane = new Uri((await mesh.Process.WaitForLineAsync(@"^ControlPlane: (\S+)$", TimeSpan.FromSeconds(1))).Groups[1].Value);
            mesh.Client = new HttpClient { BaseAddress = mesh.Gateway, Timeout = TimeSpan.FromSeconds(30) };
            return mesh;
        }
        catch
        {
            await mesh.DisposeAsync();
            throw;
        }
    }

    /// <summary>Processes of this run still alive (the AppHost itself included).</summary>
    public IReadOnlyList<int> LiveProcesses => ProcessTable.WithEnvironment("ASPIREMESH_RUN_ID", RunId);

    public async Task<(System.Net.HttpStatusCode Status, Products? Body)> GetProductsAsync(CancellationToken cancellationToken)
    {
        using var response = await Client.GetAsync("/api/products", cancellationToken);
        return (response.StatusCode, response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<Products>(cancellationToken) : null);
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        await Process.DisposeAsync();
    }
}

internal sealed record Products(
    [property: JsonPropertyName("products")] IReadOnlyList<Product> Items,
    [property: JsonPropertyName("servedBy")] IReadOnlyDictionary<string, string> ServedBy,
    [property: JsonPropertyName("traces")] IReadOnlyDictionary<string, string> Traces);

internal sealed record Product(string Sku, string Name, decimal Price, int Stock);
