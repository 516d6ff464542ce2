using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;

namespace AspireMesh.TestSupport;

/// <summary>A real control-plane process on a free port, with an optional mesh config file.</summary>
public sealed class ControlPlaneProcess : IAsyncDisposable
{
    private readonly string? _configPath;

    private ControlPlaneProcess(TestProcess process, Uri url, string? configPath)
    {
        Process = process;
        Url = url;
        _configPath = configPath;
        Http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        Client = new ControlPlaneClient(Http);
    }

    /// <summary>The process.</summary>
    public TestProcess Process { get; }

    /// <summary>Base URL.</summary>
    public Uri Url { get; }

    /// <summary>A client with <see cref="Url"/> as base address.</summary>
    public HttpClient Http { get; }

    /// <summary>The typed client proxies use.</summary>
    public ControlPlaneClient Client { get; }

    /// <summary>
    /// Starts the control plane built for <paramref name="testAssembly"/> (which references ControlPlane.csproj with
    /// EmitProjectPath) and waits until /health answers.
    /// </summary>
    public static async Task<ControlPlaneProcess> StartAsync(Assembly testAssembly, MeshConfig? config = null, params string[] arguments)
    {
        string? configPath = null;
        var args = new List<string>();
        if (config is not null)
        {
            configPath = Path.Combine(Path.GetTempPath(), $"aspiremesh-test-{Guid.NewGuid():N}.json");
            await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(config, MeshJsonContext.Default.MeshConfig)).ConfigureAwait(false);
            args.AddRange(["--config", configPath]);
        }

        var port = Ports.Free();
        var url = new Uri($"http://127.0.0.1:{port}/");
        args.AddRange(["--urls", url.ToString().TrimEnd('/')]);
        args.AddRange(arguments);
        var process = await TestProcess.StartDotnetAsync("controlplane", BuiltProjects.Assembly(testAssembly, "ControlPlane.csproj"), args).ConfigureAwait(false);
        var controlPlane = new ControlPlaneProcess(process, url, configPath);
        try
        {
            await Eventually.UntilAsync(async () => (await controlPlane.Http.GetAsync("health").ConfigureAwait(false)).IsSuccessStatusCode,
                TimeSpan.FromSeconds(60), "the control plane to answer /health").ConfigureAwait(false);
        }
        catch
        {
            await controlPlane.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return controlPlane;
    }

    /// <summary>The registry as GET /v1/services answers it.</summary>
    public async Task<ServiceList> GetServicesAsync() =>
        (await Http.GetFromJsonAsync("v1/services", MeshJsonContext.Default.ServiceList).ConfigureAwait(false))!;

    /// <summary>The health of <paramref name="instanceId"/>, or null when it is not registered.</summary>
    public async Task<string?> HealthOfAsync(string instanceId) =>
        (await GetServicesAsync().ConfigureAwait(false)).Services.SelectMany(s => s.Instances).FirstOrDefault(i => i.Id == instanceId)?.Health;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Process.DisposeAsync().ConfigureAwait(false);
        if (_configPath is not null)
        {
            File.Delete(_configPath);
        }
    }
}
