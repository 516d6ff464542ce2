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
    /// <summary>The admin token every test control plane is started with.</summary>
    public const string AdminToken = "test-admin-token";

    /// <summary>The bootstrap key every test control plane is started with, so tests can mint proxies' credentials.</summary>
    public const string BootstrapKey = "dGVzdC1ib290c3RyYXAta2V5LW9mLWFzcGlyZW1lc2gtdGVzdHM=";

    /// <summary>A fresh bootstrap credential for one proxy (instance null: any one instance of the workload).</summary>
    public static string Credential(string kind, string name, string? instance) =>
        AspireMesh.Contracts.Security.BootstrapCredential.Mint(BootstrapKey, kind, name, instance, TimeSpan.FromHours(1));

    /// <summary>The environment a sidecar needs to get its first certificate from a test control plane.</summary>
    public static Dictionary<string, string> SidecarEnvironment(string service, string instance) =>
        new() { [AspireMesh.Contracts.Security.BootstrapCredential.EnvironmentVariable] = Credential("sidecar", service, instance) };

    /// <summary>The environment a gateway needs to get its first certificate from a test control plane.</summary>
    public static Dictionary<string, string> GatewayEnvironment(string name) =>
        new() { [AspireMesh.Contracts.Security.BootstrapCredential.EnvironmentVariable] = Credential("gateway", name, null) };

    private readonly string? _configPath;
    private readonly bool _ownsStateDirectory;
    private int _disposed;

    private ControlPlaneProcess(TestProcess process, Uri url, string? configPath, string stateDirectory, bool ownsStateDirectory)
    {
        Process = process;
        Url = url;
        _configPath = configPath;
        StateDirectory = stateDirectory;
        _ownsStateDirectory = ownsStateDirectory;
        Http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        Admin = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        Admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
        Client = new ControlPlaneClient(Http);
    }

    /// <summary>Where it keeps its durable state.</summary>
    public string StateDirectory { get; }

    /// <summary>A registration token for an application's instances of <paramref name="service"/> (POST /v1/registration-tokens).</summary>
    public async Task<string> MintRegistrationTokenAsync(string service)
    {
        using var response = await Admin.PostAsJsonAsync("v1/registration-tokens", new AspireMesh.Contracts.Security.RegistrationTokenRequest(service),
            MeshJsonContext.Default.RegistrationTokenRequest).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.RegistrationTokenGrant).ConfigureAwait(false))!.Token;
    }

    /// <summary>A client that sends the admin token.</summary>
    public HttpClient Admin { get; }

    /// <summary>The process.</summary>
    public TestProcess Process { get; }

    /// <summary>Base URL.</summary>
    public Uri Url { get; }

    /// <summary>Its HTTPS listener's base URL, when started with one (<see cref="StartWithHttpsAsync"/>).</summary>
    public Uri? HttpsUrl { get; private init; }

    /// <summary>The mesh's trust bundle (PEM), which clients of <see cref="HttpsUrl"/> trust it by.</summary>
    public Task<string> TrustBundleAsync() => Http.GetStringAsync(new Uri("v1/ca/bundle.pem", UriKind.Relative));

    /// <summary>A client with <see cref="Url"/> as base address.</summary>
    public HttpClient Http { get; }

    /// <summary>The typed client proxies use.</summary>
    public ControlPlaneClient Client { get; }

    /// <summary>
    /// Starts the control plane built for <paramref name="testAssembly"/> (which references ControlPlane.csproj with
    /// EmitProjectPath) and waits until /health answers.
    /// </summary>
    public static Task<ControlPlaneProcess> StartAsync(Assembly testAssembly, MeshConfig? config = null, params string[] arguments) =>
        StartWithStateAsync(testAssembly, config, stateDirectory: null, port: null, arguments);

    /// <summary>
    /// Starts the control plane with <paramref name="stateDirectory"/> (a new temporary one when null, deleted on
    /// dispose) on <paramref name="port"/> (a free one when null), e.g. to restart it on the same state and port.
    /// </summary>
    public static Task<ControlPlaneProcess> StartWithStateAsync(Assembly testAssembly, MeshConfig? config, string? stateDirectory, int? port, params string[] arguments) =>
        StartCoreAsync(testAssembly, config, stateDirectory, port, https: false, httpsPort: null, arguments);

    /// <summary>
    /// As <see cref="StartWithStateAsync"/>, with an HTTPS listener beside the plain one, on <paramref name="httpsPort"/>
    /// (a free one when null): <see cref="HttpsUrl"/>.
    /// </summary>
    public static Task<ControlPlaneProcess> StartWithHttpsAsync(Assembly testAssembly, string? stateDirectory = null, int? port = null, int? httpsPort = null, params string[] arguments) =>
        StartCoreAsync(testAssembly, null, stateDirectory, port, https: true, httpsPort, arguments);

    /// <summary>As <see cref="StartWithHttpsAsync(Assembly, string?, int?, int?, string[])"/>, with a mesh config.</summary>
    public static Task<ControlPlaneProcess> StartOverHttpsAsync(Assembly testAssembly, MeshConfig? config, params string[] arguments) =>
        StartCoreAsync(testAssembly, config, null, null, https: true, httpsPort: null, arguments);

    private static async Task<ControlPlaneProcess> StartCoreAsync(Assembly testAssembly, MeshConfig? config, string? stateDirectory, int? port, bool https, int? httpsPort, string[] arguments)
    {
        var ownsState = stateDirectory is null;
        stateDirectory ??= Directory.CreateTempSubdirectory("aspiremesh-cp-").FullName;
        string? configPath = null;
        var args = new List<string>();
        if (config is not null)
        {
            configPath = Path.Combine(Path.GetTempPath(), $"aspiremesh-test-{Guid.NewGuid():N}.json");
            await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(config, MeshJsonContext.Default.MeshConfig)).ConfigureAwait(false);
            args.AddRange(["--config", configPath]);
        }

        // A free port can be taken before the process binds it: then it exits with 3 and, unless the port was
        // fixed by the caller, is started again on others (both picked again). Its own "Now listening" lines prove who answers.
        for (var attempt = 1; ; attempt++)
        {
            var url = new Uri($"http://127.0.0.1:{port ?? Ports.Free()}/");
            var httpsUrl = https ? new Uri($"https://127.0.0.1:{httpsPort ?? Ports.Free()}/") : null;
            var urls = httpsUrl is null ? url.ToString().TrimEnd('/') : $"{url.ToString().TrimEnd('/')};{httpsUrl.ToString().TrimEnd('/')}";
            var attemptArgs = new List<string>(args) { "--urls", urls, "--state-dir", stateDirectory };
            attemptArgs.AddRange(arguments);
            var process = await TestProcess.StartDotnetAsync("controlplane", BuiltProjects.Assembly(testAssembly, "ControlPlane.csproj"), attemptArgs,
                new Dictionary<string, string>
                {
                    ["ASPIREMESH_ADMIN_TOKEN"] = AdminToken,
                    [AspireMesh.Contracts.Security.BootstrapCredential.KeyEnvironmentVariable] = BootstrapKey,
                }).ConfigureAwait(false);
            try
            {
                foreach (var listening in new[] { url, httpsUrl }.OfType<Uri>())
                {
                    await process.WaitForLineAsync($"Now listening on: {System.Text.RegularExpressions.Regex.Escape(listening.ToString().TrimEnd('/'))}$", TimeSpan.FromSeconds(60)).ConfigureAwait(false);
                }

                return new ControlPlaneProcess(process, url, configPath, stateDirectory, ownsState) { HttpsUrl = httpsUrl };
            }
            catch (TimeoutException) when (port is null && (!https || httpsPort is null) && attempt < 3 && process.Exited.IsCompleted && process.Exited.Result == 3)
            {
                await process.DisposeAsync().ConfigureAwait(false);
            }
            catch
            {
                await process.DisposeAsync().ConfigureAwait(false);
                if (configPath is not null)
                {
                    File.Delete(configPath);
                }

                if (ownsState)
                {
                    Directory.Delete(stateDirectory, recursive: true);
                }

                throw;
            }
        }
    }

    /// <summary>The registry as GET /v1/services answers it.</summary>
    public async Task<ServiceList> GetServicesAsync() =>
        (await Http.GetFromJsonAsync("v1/services", MeshJsonContext.Default.ServiceList).ConfigureAwait(false))!;

    /// <summary>The health of <paramref name="instanceId"/>, or null when it is not registered.</summary>
    public async Task<string?> HealthOfAsync(string instanceId) =>
        (await GetServicesAsync().ConfigureAwait(false)).Services.SelectMany(s => s.Instances).FirstOrDefault(i => i.Id == instanceId)?.Health;

    /// <summary>Why <paramref name="instanceId"/> is unhealthy, as the control plane lists it; null when healthy or not registered.</summary>
    public async Task<string?> ReasonOfAsync(string instanceId) =>
        (await GetServicesAsync().ConfigureAwait(false)).Services.SelectMany(s => s.Instances).FirstOrDefault(i => i.Id == instanceId)?.Reason;

    /// <summary>
    /// Waits until <paramref name="instanceId"/> is healthy and each of <paramref name="proxyIds"/> serves the control
    /// plane's current snapshot (which has that instance): from then on those proxies route to it without a failed
    /// attempt, so a test that measures success rates counts no start-up 503 of its own making.
    /// </summary>
    public async Task WaitUntilRoutableAsync(string instanceId, IReadOnlyList<string> proxyIds, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(proxyIds);
        await Eventually.UntilAsync(async () => await HealthOfAsync(instanceId).ConfigureAwait(false) == InstanceHealth.Healthy, timeout,
            $"{instanceId} to be healthy").ConfigureAwait(false);
        await Eventually.UntilAsync(async () =>
        {
            var proxies = (await Admin.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList).ConfigureAwait(false))!.Proxies;
            return proxyIds.All(id => proxies.Any(p => p.Id == id && p is { UpToDate: true, Watching: true }));
        }, timeout, $"{string.Join(", ", proxyIds)} to serve the snapshot with {instanceId}").ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        Http.Dispose();
        Admin.Dispose();
        await Process.DisposeAsync().ConfigureAwait(false);
        if (_configPath is not null)
        {
            File.Delete(_configPath);
        }

        if (_ownsStateDirectory)
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
    }
}
