using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// A real gateway process named <c>edge</c> on free loopback ports, with its own control plane serving
/// <paramref name="config"/>, ready once its admin /ready answers. Stops both on dispose.
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private GatewayProcess(ControlPlaneProcess controlPlane, TestProcess process, int port, int? httpsPort, string stateDirectory)
    {
        ControlPlane = controlPlane;
        Process = process;
        Port = port;
        HttpsPort = httpsPort;
        StateDirectory = stateDirectory;
        Url = new Uri($"http://127.0.0.1:{port}/");
        Client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = Url, Timeout = Deadline };
    }

    public ControlPlaneProcess ControlPlane { get; }

    public TestProcess Process { get; }

    public int Port { get; }

    public int? HttpsPort { get; }

    public string StateDirectory { get; }

    public Uri Url { get; }

    /// <summary>A plain-HTTP client that does not follow redirects.</summary>
    public HttpClient Client { get; }

    /// <summary>
    /// Starts the gateway with <paramref name="arguments"/> added to its name, ports, control plane and state directory;
    /// <paramref name="https"/> adds <c>--https-port</c> on a free port.
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(MeshConfig config, bool https = false, IReadOnlyList<string>? arguments = null, string? stateDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var controlPlane = await ControlPlaneProcess.StartAsync(typeof(GatewayProcess).Assembly, config);
        stateDirectory ??= Directory.CreateTempSubdirectory("aspiremesh-gw-").FullName;
        var port = Ports.Free();
        var admin = Ports.Free();
        int? httpsPort = https ? Ports.Free() : null;
        List<string> args = ["--name", "edge", "--host", "127.0.0.1", "--port", $"{port}", "--admin-port", $"{admin}", "--control-plane", controlPlane.Url.ToString(), "--state-dir", stateDirectory];
        if (httpsPort is { } p)
        {
            args.AddRange(["--https-port", $"{p}"]);
        }

        args.AddRange(arguments ?? []);
        var process = await TestProcess.StartDotnetAsync("gateway", BuiltProjects.Assembly(typeof(GatewayProcess).Assembly, "Gateway.csproj"), args, environment);
        var gateway = new GatewayProcess(controlPlane, process, port, httpsPort, stateDirectory);
        try
        {
            using var probe = new HttpClient { Timeout = Deadline };
            await Eventually.UntilAsync(async () => !process.Exited.IsCompleted && (await probe.GetAsync(new Uri($"http://127.0.0.1:{admin}/ready"))).IsSuccessStatusCode,
                Deadline, "the gateway to be ready");
        }
        catch (TimeoutException ex)
        {
            var output = process.Output;
            await gateway.DisposeAsync();
            throw new TimeoutException($"{ex.Message} Gateway output:{Environment.NewLine}{output}", ex);
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }

        return gateway;
    }

    /// <summary>Registers <paramref name="backend"/> as an instance of <paramref name="service"/> and waits until the gateway routes <paramref name="probePath"/> to it.</summary>
    public async Task RegisterAsync(string service, TestBackend backend, string probePath, HttpClient? client = null)
    {
        await ControlPlane.Client.RegisterAsync($"{service}-1", new InstanceRegistration(service, backend.Url.ToString().TrimEnd('/'), true), TestContext.Current.CancellationToken);
        await Eventually.UntilAsync(async () =>
        {
            using var response = await (client ?? Client).GetAsync(probePath);
            return response.Headers.TryGetValues("x-backend", out var served) && served.Single() == backend.Name;
        }, Deadline, $"{probePath} to reach {backend.Name}");
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Process.DisposeAsync();
        await ControlPlane.DisposeAsync();
        Directory.Delete(StateDirectory, recursive: true);
    }
}
