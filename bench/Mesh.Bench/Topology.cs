using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.Hosting.Model;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Mesh.Bench;

/// <summary>
/// What every scenario shares: the upstream, the control plane with the bench's routes, and instances the bench
/// registers itself (with heartbeats): <c>plain</c> (the upstream, called by the Gateway directly) and <c>edge</c>
/// (a client sidecar's outbound listener, so the Gateway's requests cross two sidecars).
/// </summary>
internal sealed class Topology : IAsyncDisposable
{
    public const string AdminToken = "bench-admin-token";

    /// <summary>Signs the bootstrap credentials the bench hands its proxies (as the AppHost does).</summary>
    public string BootstrapKey { get; } = AspireMesh.Contracts.Security.BootstrapCredential.NewKey();

    /// <summary>Arguments every proxy of ours gets after its own (the options' <c>--io</c> and <c>--proxy-arg</c>s).</summary>
    public IEnumerable<string> ProxyArguments => Options.ProxyIo is { } io ? ["--io", io, .. Options.ProxyExtraArguments] : Options.ProxyExtraArguments;

    /// <summary>
    /// The environment of one proxy: a sidecar's runtime settings as the AppHost and the published manifests give them
    /// (<see cref="SidecarRuntime"/>), the options' extra variables (which win) and a fresh bootstrap credential.
    /// </summary>
    public IReadOnlyDictionary<string, string> ProxyEnvironment(string kind, string name, string? instance)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in kind == ProxyKinds.Sidecar ? SidecarRuntime.Environment.Concat(Options.ProxyEnvironment) : Options.ProxyEnvironment)
        {
            env[key] = value;
        }

        env[AspireMesh.Contracts.Security.BootstrapCredential.EnvironmentVariable] =
            AspireMesh.Contracts.Security.BootstrapCredential.Mint(BootstrapKey, kind, name, instance, TimeSpan.FromHours(6));
        return env;
    }

    private Task<string>? _nativeSidecar;

    /// <summary>
    /// The sidecar as a Native AOT executable: the one given with <c>--aot-sidecar</c>, or published once per bench run
    /// with build/publish-sidecar-aot.sh into the bench's work folder.
    /// </summary>
    public Task<string> NativeSidecarAsync()
    {
        lock (_gate)
        {
            return _nativeSidecar ??= Options.AotSidecar is { } given ? Task.FromResult(given) : PublishNativeSidecarAsync();
        }
    }

    private async Task<string> PublishNativeSidecarAsync()
    {
        var output = Path.Combine(Work, "sidecar-aot");
        Runner.Progress("publishing the sidecar with Native AOT (build/publish-sidecar-aot.sh, one to three minutes)");
        await using var publish = await BenchProcess.StartAsync("publish-sidecar-aot", "bash",
            [Path.Combine(Options.Repository, "build", "publish-sidecar-aot.sh"), output]).ConfigureAwait(false);
        var exit = await publish.Exited.WaitAsync(TimeSpan.FromMinutes(15)).ConfigureAwait(false);
        var executable = Path.Combine(output, "AspireMesh.MeshProxy");
        if (exit != 0 || !File.Exists(executable))
        {
            throw new InvalidOperationException($"build/publish-sidecar-aot.sh exited with {exit}. Its output:\n{publish.Output}");
        }

        Runner.Progress($"Native AOT sidecar ready: {executable}");
        return executable;
    }

    private readonly List<BenchProcess> _processes = [];
    private readonly Dictionary<string, InstanceRegistration> _registered = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _heartbeats = Task.CompletedTask;

    private Topology(string work, BenchOptions options)
    {
        Work = work;
        Options = options;
    }

    public string Work { get; }

    public BenchOptions Options { get; }

    public int UpstreamHttp1Port { get; private set; }

    public int UpstreamHttp2Port { get; private set; }

    public BenchProcess Upstream { get; private set; } = null!;

    public Uri ControlPlane { get; private set; } = null!;

    public HttpClient Admin { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public static async Task<Topology> StartAsync(BenchOptions options)
    {
        var topology = new Topology(Directory.CreateTempSubdirectory("aspiremesh-bench-").FullName, options);
        try
        {
            await topology.StartSharedAsync().ConfigureAwait(false);
            return topology;
        }
        catch
        {
            await topology.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartSharedAsync()
    {
        UpstreamHttp1Port = PortAllocator.FreePort();
        UpstreamHttp2Port = PortAllocator.FreePort();
        Upstream = Track(await BenchProcess.StartAsync("upstream", "dotnet",
            [typeof(Topology).Assembly.Location, "upstream", $"{UpstreamHttp1Port}", $"{UpstreamHttp2Port}"]).ConfigureAwait(false));
        await Upstream.WaitForLineAsync("upstream listening", TimeSpan.FromSeconds(30)).ConfigureAwait(false);

        var port = PortAllocator.FreePort();
        ControlPlane = new Uri($"http://127.0.0.1:{port}/");
        var controlPlane = Track(await BenchProcess.StartProjectAsync("control-plane", "ControlPlane.csproj",
            ["--urls", $"http://127.0.0.1:{port}", "--state-dir", Directory.CreateDirectory(Path.Combine(Work, "control-plane")).FullName],
            new Dictionary<string, string>
            {
                ["ASPIREMESH_ADMIN_TOKEN"] = AdminToken,
                [AspireMesh.Contracts.Security.BootstrapCredential.KeyEnvironmentVariable] = BootstrapKey,
                ["Logging__LogLevel__Default"] = "Warning",
            }).ConfigureAwait(false));
        Admin.BaseAddress = ControlPlane;
        Admin.DefaultRequestHeaders.Authorization = new("Bearer", AdminToken);
        await UntilAsync(async () => (await Admin.GetAsync("health").ConfigureAwait(false)).IsSuccessStatusCode, controlPlane, "the control plane to answer /health").ConfigureAwait(false);

        using var put = await Admin.PutAsync("v1/config", new StringContent(JsonSerializer.Serialize(Config(), MeshJsonContext.Default.MeshConfig), Encoding.UTF8, "application/json"))
            .ConfigureAwait(false);
        if (!put.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"the control plane refused the bench's config: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync().ConfigureAwait(false)}");
        }

        await RegisterAsync("plain-1", new InstanceRegistration("plain", $"http://127.0.0.1:{UpstreamHttp1Port}", Healthy: true)).ConfigureAwait(false);
        _heartbeats = HeartbeatAsync(_stop.Token);
    }

    /// <summary>The Gateway's routes: <c>/plain</c> straight to the upstream, <c>/full</c> through the edge sidecar (service <c>edge-out</c>, its outbound listener) to <c>backend</c>.</summary>
    private static MeshConfig Config() => new()
    {
        Services =
        [
            new ServiceConfig { Name = "plain" },
            new ServiceConfig { Name = "backend" },
            new ServiceConfig { Name = "client", References = ["backend"] },
            new ServiceConfig { Name = "backend-b" },
            new ServiceConfig { Name = "client-b", References = ["backend-b"] },
            new ServiceConfig { Name = "edge", References = ["backend"] },
            new ServiceConfig { Name = "edge-out" },
        ],
        Routes =
        [
            new HttpRouteConfig
            {
                Name = "plain",
                ParentRefs = [new() { Name = "gateway" }],
                Rules = [new() { Matches = [new() { Path = new() { Value = "/plain" } }], BackendRefs = [new() { Name = "plain" }] }],
            },
            new HttpRouteConfig
            {
                Name = "full",
                ParentRefs = [new() { Name = "gateway" }],
                Rules =
                [
                    new()
                    {
                        Matches = [new() { Path = new() { Value = "/full" } }],
                        // The edge sidecar routes on the Host, as it does for its own app's calls.
                        Filters = [new() { Type = FilterTypes.UrlRewrite, UrlRewrite = new() { Hostname = "backend" } }],
                        BackendRefs = [new() { Name = "edge-out" }],
                    },
                ],
            },
        ],
    };

    /// <summary>Registers an instance the bench stands for, kept alive by the heartbeat loop until removed.</summary>
    public async Task RegisterAsync(string instanceId, InstanceRegistration registration)
    {
        using var response = await Admin.PutAsJsonAsync($"v1/instances/{instanceId}", registration, MeshJsonContext.Default.InstanceRegistration).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"registering {instanceId} failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
        }

        lock (_gate)
        {
            _registered[instanceId] = registration;
        }
    }

    public async Task DeregisterAsync(string instanceId)
    {
        lock (_gate)
        {
            _registered.Remove(instanceId);
        }

        using var _ = await Admin.DeleteAsync($"v1/instances/{instanceId}").ConfigureAwait(false);
    }

    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            KeyValuePair<string, InstanceRegistration>[] instances;
            lock (_gate)
            {
                instances = [.. _registered];
            }

            foreach (var (id, registration) in instances)
            {
                try
                {
                    using var response = await Admin.PostAsJsonAsync($"v1/instances/{id}/heartbeat", new Heartbeat(true), MeshJsonContext.Default.Heartbeat, cancellationToken).ConfigureAwait(false);
                    if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
                    {
                        await RegisterAsync(id, registration).ConfigureAwait(false);
                    }
                }
                catch (HttpRequestException)
                {
                    // The control plane is busy or stopping; the next beat tries again.
                }
            }
        }
    }

    public BenchProcess Track(BenchProcess process)
    {
        lock (_gate)
        {
            _processes.Add(process);
        }

        return process;
    }

    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds, failing with <paramref name="process"/>'s output after 60 s.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, BenchProcess process, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                if (await condition().ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (process.Exited.IsCompleted || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"gave up waiting for {what} ({process.Name} {(process.Exited.IsCompleted ? "exited" : "still running")}). Its output:\n{process.Output}");
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _heartbeats.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        List<BenchProcess> processes;
        lock (_gate)
        {
            processes = [.. _processes];
        }

        foreach (var process in Enumerable.Reverse(processes))
        {
            await process.DisposeAsync().ConfigureAwait(false);
        }

        Admin.Dispose();
        _stop.Dispose();
        try
        {
            Directory.Delete(Work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
