using AspireMesh.Contracts.Client;
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

    private GatewayProcess(ControlPlaneProcess controlPlane, TestProcess process, int port, int? httpsPort, string stateDirectory, int adminPort)
    {
        AdminUrl = new Uri($"http://127.0.0.1:{adminPort}/");
        ControlPlane = controlPlane;
        Process = process;
        Port = port;
        HttpsPort = httpsPort;
        StateDirectory = stateDirectory;
        Url = new Uri($"http://127.0.0.1:{port}/");
        Client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = Url, Timeout = Deadline };
    }

    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _heartbeats = [];

    public ControlPlaneProcess ControlPlane { get; }

    /// <summary>The admin listener (/ready, /metrics).</summary>
    public Uri AdminUrl { get; }

    public TestProcess Process { get; }

    public int Port { get; }

    public int? HttpsPort { get; }

    public string StateDirectory { get; }

    public Uri Url { get; }

    /// <summary>A plain-HTTP client that does not follow redirects.</summary>
    public HttpClient Client { get; }

    /// <summary>
    /// Starts the gateway with <paramref name="arguments"/> added to its name, ports, control plane and state directory;
    /// <paramref name="https"/> adds <c>--https-port</c> on a free port; <paramref name="controlPlaneArguments"/> go to its control plane.
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(MeshConfig config, bool https = false, IReadOnlyList<string>? arguments = null, string? stateDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<string>? controlPlaneArguments = null, bool controlPlaneOverHttps = false)
    {
        var controlPlane = controlPlaneOverHttps
            ? await ControlPlaneProcess.StartOverHttpsAsync(typeof(GatewayProcess).Assembly, config, [.. controlPlaneArguments ?? []])
            : await ControlPlaneProcess.StartAsync(typeof(GatewayProcess).Assembly, config, [.. controlPlaneArguments ?? []]);
        // Over HTTPS the gateway is given the mesh's root to trust the control plane by, as a published topology gives it.
        var controlPlaneUrl = controlPlaneOverHttps ? controlPlane.HttpsUrl! : controlPlane.Url;
        var controlPlaneRoot = controlPlaneOverHttps ? await controlPlane.TrustBundleAsync() : null;
        stateDirectory ??= Directory.CreateTempSubdirectory("aspiremesh-gw-").FullName;
        for (var attempt = 1; ; attempt++)
        {
            var port = Ports.Free();
            var admin = Ports.Free();
            int? httpsPort = https ? Ports.Free() : null;
            List<string> args = ["--name", "edge", "--host", "127.0.0.1", "--port", $"{port}", "--admin-port", $"{admin}", "--control-plane", controlPlaneUrl.ToString(), "--state-dir", stateDirectory];
            if (httpsPort is { } p)
            {
                args.AddRange(["--https-port", $"{p}"]);
            }

            args.AddRange(arguments ?? []);
            // Its first mesh certificate needs a bootstrap credential, as every proxy's does.
            var env = ControlPlaneProcess.GatewayEnvironment("edge");
            if (controlPlaneRoot is not null)
            {
                env[AspireMesh.Contracts.Client.ControlPlaneTrust.EnvironmentVariable] = controlPlaneRoot;
            }

            foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            {
                env[key] = value;
            }

            var process = await TestProcess.StartDotnetAsync("gateway", BuiltProjects.Assembly(typeof(GatewayProcess).Assembly, "Gateway.csproj"), args, env);
            try
            {
                using var probe = new HttpClient { Timeout = Deadline };
                await Eventually.UntilAsync(async () => process.Exited.IsCompleted || (await probe.GetAsync(new Uri($"http://127.0.0.1:{admin}/ready"))).IsSuccessStatusCode,
                    Deadline, "the gateway to be ready");
                if (!process.Exited.IsCompleted)
                {
                    return new GatewayProcess(controlPlane, process, port, httpsPort, stateDirectory, admin);
                }

                var code = await process.Exited;
                // A free port can be taken by another process (a test's outgoing connection, in the same ephemeral range)
                // between being chosen and being bound: the gateway says so with its exit code; then try other ports.
                if (code == AspireMesh.ProxyEngine.Hosting.ListenerHost.ListenFailedExitCode && attempt < 3)
                {
                    await process.DisposeAsync();
                    continue;
                }

                throw new InvalidOperationException($"The gateway exited with code {code} before it was ready. Gateway output:{Environment.NewLine}{process.Output}");
            }
            catch (Exception ex)
            {
                var output = process.Output;
                await process.DisposeAsync();
                await controlPlane.DisposeAsync();
                Directory.Delete(stateDirectory, recursive: true);
                if (ex is TimeoutException)
                {
                    throw new TimeoutException($"{ex.Message} Gateway output:{Environment.NewLine}{output}", ex);
                }

                throw;
            }
        }
    }

    /// <summary>
    /// Registers <paramref name="backend"/> as an instance of <paramref name="service"/>, keeps it registered with a
    /// heartbeat every second (as its sidecar would) until disposed, and waits until the gateway routes
    /// <paramref name="probePath"/> to it.
    /// </summary>
    public async Task RegisterAsync(string service, TestBackend backend, string probePath, HttpClient? client = null)
    {
        var id = $"{service}-1";
        await ControlPlane.Client.RegisterAsync(id, new InstanceRegistration(service, backend.Url.ToString().TrimEnd('/'), true), TestContext.Current.CancellationToken);
        _heartbeats.Add(HeartbeatAsync(id, service, backend));
        await Eventually.UntilAsync(async () =>
        {
            using var response = await (client ?? Client).GetAsync(probePath);
            return response.Headers.TryGetValues("x-backend", out var served) && served.Single() == backend.Name;
        }, Deadline, $"{probePath} to reach {backend.Name}");
    }

    private async Task HeartbeatAsync(string id, string service, TestBackend backend)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                try
                {
                    // As a sidecar does: a control plane that evicted the instance (a stall longer than the lease) gets it again.
                    if (!await ControlPlane.Client.HeartbeatAsync(id, new Heartbeat(true), _stopping.Token))
                    {
                        await ControlPlane.Client.RegisterAsync(id, new InstanceRegistration(service, backend.Url.ToString().TrimEnd('/'), true), _stopping.Token);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or ControlPlaneException || (ex is TaskCanceledException && !_stopping.IsCancellationRequested))
                {
                    // The next tick tries again.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_heartbeats);
        _stopping.Dispose();
        Client.Dispose();
        await Process.DisposeAsync();
        await ControlPlane.DisposeAsync();
        Directory.Delete(StateDirectory, recursive: true);
    }
}
