using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Security;
using AspireMesh.Hosting.Model;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Hosting.Orchestration;

/// <summary>
/// Run mode: checks ports, starts the control plane, then every service instance with its sidecar and the gateways,
/// waits until all are ready and every proxy serves the latest mesh state, prints the URLs, and on stop shuts
/// everything down (gateways, then services, then the control plane).
/// </summary>
internal sealed class MeshRunner(MeshApplication app, MeshConsole console) : IAsyncDisposable
{
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);
    private readonly HttpClient _probe = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly List<ResourceSupervisor> _supervisors = [];
    private readonly string _runId = Environment.GetEnvironmentVariable("ASPIREMESH_RUN_ID") is { Length: > 0 } id ? id : Guid.NewGuid().ToString("N")[..12];
    private readonly string _adminToken = Environment.GetEnvironmentVariable("ASPIREMESH_ADMIN_TOKEN") is { Length: > 0 } token
        ? token
        : Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
    // Signs the bootstrap credentials this run hands its proxies; the control plane checks them with it.
    private readonly string _bootstrapKey = BootstrapCredential.NewKey();
    private string? _runDirectory;
    private ResourcePublisher? _publisher;

    public async Task<int> RunAsync(CancellationToken stopping)
    {
        var startedAt = Stopwatch.GetTimestamp();
        var plan = Plan(out var urls);
        if (plan is null)
        {
            return 1;
        }

        using var stopRequested = stopping.Register(BeginStopAll);
        // The dashboard's view of the resources; sent to the control plane as soon as it answers, retried while it does not.
        _publisher = new ResourcePublisher(new Uri($"http://127.0.0.1:{urls.ControlPlane.Port}/"), _adminToken, message => console.Warn($"warning: {message}"));
        _publisher.Start();
        console.Reserve(plan.Select(r => r.Name));
        console.Info($"AspireMesh: starting {plan.Count} resources (run {_runId}): {string.Join(", ", plan.Select(r => r.Name))}");
        try
        {
            var controlPlane = plan.Where(r => r.Kind == ResourceKind.ControlPlane).ToList();
            Start(controlPlane);
            if (!await WaitReadyAsync(controlPlane, app.Options.StartupTimeout, stopping).ConfigureAwait(false))
            {
                return await FailAsync(stopping).ConfigureAwait(false);
            }

            var rest = plan.Except(controlPlane).ToList();
            Start(rest);
            if (!await WaitReadyAsync(rest, app.Options.StartupTimeout, stopping).ConfigureAwait(false)
                || !await WaitConvergedAsync(plan, urls.ControlPlane, stopping).ConfigureAwait(false))
            {
                return await FailAsync(stopping).ConfigureAwait(false);
            }

            console.Info($"AspireMesh is ready: {plan.Count} resources in {Stopwatch.GetElapsedTime(startedAt).TotalSeconds:0.0} s. Press Ctrl+C to stop.");
            foreach (var gateway in urls.Gateways)
            {
                console.Info(urls.Gateways.Count == 1 ? $"Gateway: {gateway.Url}" : $"Gateway ({gateway.Name}): {gateway.Url}");
            }

            console.Info($"ControlPlane: {urls.ControlPlane}");
            console.Info($"Dashboard: {new Uri(urls.ControlPlane, "dashboard/")}");
            console.Info($"Eureka: {new Uri(urls.ControlPlane, "eureka/")} (for apps that register and discover with a Eureka client)");
            console.Info($"Consul: {urls.ControlPlane.Host}:{urls.ControlPlane.Port} (for apps with a Consul client: the agent's host and port)");
            console.Info($"Admin token (for PUT {new Uri(urls.ControlPlane, "v1/config")}): {_adminToken}");
            await Task.Delay(Timeout.Infinite, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }

        console.Info("AspireMesh: stopping...");
        await StopAllAsync().ConfigureAwait(false);
        console.Info("AspireMesh: stopped.");
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAllAsync().ConfigureAwait(false);
        if (_publisher is not null)
        {
            await _publisher.DisposeAsync().ConfigureAwait(false);
        }

        _probe.Dispose();
        if (_runDirectory is not null)
        {
            try
            {
                Directory.Delete(_runDirectory, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a temp directory left behind is harmless.
            }
        }
    }

    private async Task<int> FailAsync(CancellationToken stopping)
    {
        if (stopping.IsCancellationRequested)
        {
            console.Info("AspireMesh: stopping...");
            await StopAllAsync().ConfigureAwait(false);
            return 0;
        }

        console.Error("AspireMesh could not start; stopping everything it started.");
        await StopAllAsync().ConfigureAwait(false);
        return 1;
    }

    private List<PlannedResource>? Plan(out MeshUrls urls)
    {
        var options = app.Options;
        var errors = new List<string>();
        string Infrastructure(string projectFile) =>
            app.Locator.FindAssemblyByFileName(projectFile) ?? Fail($"the AppHost project does not reference {projectFile} (EmitProjectPath=\"true\"), so it cannot be started.");
        string Fail(string message)
        {
            errors.Add(message);
            return "";
        }

        var controlPlaneDll = Infrastructure("ControlPlane.csproj");
        var proxyDll = Infrastructure("MeshProxy.csproj");
        var gatewayDll = app.Gateways.Count > 0 ? Infrastructure("Gateway.csproj") : "";

        int Port(int wanted, string owner, string option)
        {
            if (wanted == 0)
            {
                return PortAllocator.FreePort();
            }

            if (!PortAllocator.IsFree(wanted))
            {
                errors.Add($"port {wanted} ({owner}) is already in use by another program; choose another with {option}, or stop that program.");
            }

            return wanted;
        }

        var controlPlanePort = Port(options.ControlPlanePort, "control plane", "--controlplane-port");
        var gatewayPorts = app.Gateways.Select((g, i) => i == 0 ? Port(options.GatewayPort, $"gateway '{g.Name}'", "--gateway-port") : PortAllocator.FreePort()).ToList();
        urls = new MeshUrls(new Uri($"http://localhost:{controlPlanePort}/"),
            [.. app.Gateways.Select((g, i) => (g.Name, new Uri($"http://localhost:{gatewayPorts[i]}/")))]);
        if (errors.Count > 0)
        {
            foreach (var error in errors)
            {
                console.Error($"error: {error}");
            }

            console.Error("AspireMesh did not start anything.");
            return null;
        }

        _runDirectory = Path.Combine(Path.GetTempPath(), $"aspiremesh-{_runId}");
        Directory.CreateDirectory(_runDirectory);
        var configPath = Path.Combine(_runDirectory, "mesh.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(app.Config, MeshJsonContext.Default.MeshConfig));

        var controlPlaneInternal = $"http://127.0.0.1:{controlPlanePort}";
        var plan = new List<PlannedResource>
        {
            new(MeshApplication.ControlPlaneName, ResourceKind.ControlPlane,
                Dotnet(controlPlaneDll, ["--urls", $"http://localhost:{controlPlanePort}", "--config", configPath, "--state-dir", Path.Combine(_runDirectory, "controlplane")],
                    new Dictionary<string, string>(Common(MeshApplication.ControlPlaneName))
                    {
                        ["ASPIREMESH_ADMIN_TOKEN"] = _adminToken,
                        [BootstrapCredential.KeyEnvironmentVariable] = _bootstrapKey,
                    }),
                new Uri($"{controlPlaneInternal}/health")) { Urls = [urls.ControlPlane] },
        };

        foreach (var project in app.Projects)
        {
            var dll = app.Locator.FindAssembly(app.Locator.ResolveProjectPath(project.ProjectPath))!;
            for (var replica = 1; replica <= project.Replicas; replica++)
            {
                var instance = $"{project.Name}-{replica}";
                int appPort = PortAllocator.FreePort(), inbound = PortAllocator.FreePort(), outbound = PortAllocator.FreePort(), admin = PortAllocator.FreePort();
                int inboundHttp2 = PortAllocator.FreePort(), outboundHttp2 = PortAllocator.FreePort();
                var appEnv = Common(instance);
                appEnv["ASPIREMESH_SERVICE"] = project.Name;
                appEnv["ASPIREMESH_INSTANCE_ID"] = instance;
                appEnv["ASPNETCORE_URLS"] = $"http://127.0.0.1:{appPort}";
                appEnv["HTTP_PROXY"] = $"http://127.0.0.1:{outbound}";
                appEnv["NO_PROXY"] = "localhost,127.0.0.1,::1";
                appEnv["OTEL_SERVICE_NAME"] = project.Name;
                appEnv["OTEL_RESOURCE_ATTRIBUTES"] = $"service.instance.id={instance}";
                foreach (var reference in project.References.Distinct(StringComparer.Ordinal))
                {
                    // Aspire's service-discovery convention; in the mesh the name is the address and the sidecar resolves it.
                    appEnv[$"services__{reference}__http__0"] = $"http://{reference}";
                }

                foreach (var (key, value) in project.Environment)
                {
                    appEnv[key] = value;
                }

                plan.Add(new(instance, ResourceKind.App, Dotnet(dll, [], appEnv), new Uri($"http://127.0.0.1:{appPort}/health")) { Urls = [new Uri($"http://127.0.0.1:{appPort}/")] });

                var sidecarName = $"{instance}-proxy";
                var sidecarEnv = Common(sidecarName);
                foreach (var (key, value) in SidecarRuntime.Environment)
                {
                    sidecarEnv[key] = value;
                }

                sidecarEnv["ASPIREMESH_INSTANCE_ID"] = instance;
                // Its first certificate: good for this instance, once (a restarted sidecar keeps its certificate).
                sidecarEnv[BootstrapCredential.EnvironmentVariable] = BootstrapCredential.Mint(_bootstrapKey, "sidecar", project.Name, instance, TimeSpan.FromDays(1));
                // A sidecar's spans belong to its service, as in Istio; the instance id tells the proxy from the app.
                sidecarEnv["OTEL_SERVICE_NAME"] = project.Name;
                sidecarEnv["OTEL_RESOURCE_ATTRIBUTES"] = $"service.instance.id={sidecarName},mesh.proxy=sidecar";
                plan.Add(new(sidecarName, ResourceKind.Sidecar, Dotnet(proxyDll,
                    ["--service", project.Name, "--instance-id", instance, "--app-url", $"http://127.0.0.1:{appPort}",
                     "--inbound-port", $"{inbound}", "--outbound-port", $"{outbound}", "--admin-port", $"{admin}",
                     "--inbound-h2-port", $"{inboundHttp2}", "--outbound-h2-port", $"{outboundHttp2}", "--control-plane", controlPlaneInternal,
                     "--state-dir", Path.Combine(_runDirectory, "proxies", instance)],
                    sidecarEnv), new Uri($"http://127.0.0.1:{admin}/ready"), new Uri($"http://127.0.0.1:{admin}/"))
                {
                    Urls = [new Uri($"http://127.0.0.1:{inbound}/"), new Uri($"http://127.0.0.1:{outbound}/"), new Uri($"http://127.0.0.1:{admin}/")],
                });
            }
        }

        for (var i = 0; i < app.Gateways.Count; i++)
        {
            var gateway = app.Gateways[i];
            var admin = PortAllocator.FreePort();
            plan.Add(new(gateway.Name, ResourceKind.Gateway, Dotnet(gatewayDll,
                ["--name", gateway.Name, "--port", $"{gatewayPorts[i]}", "--admin-port", $"{admin}", "--control-plane", controlPlaneInternal,
                 "--state-dir", Path.Combine(_runDirectory, "gateways", gateway.Name)],
                new Dictionary<string, string>(Common(gateway.Name))
                {
                    ["OTEL_SERVICE_NAME"] = gateway.Name,
                    ["OTEL_RESOURCE_ATTRIBUTES"] = "mesh.proxy=gateway",
                    [BootstrapCredential.EnvironmentVariable] = BootstrapCredential.Mint(_bootstrapKey, "gateway", gateway.Name, instance: null, TimeSpan.FromDays(1)),
                }), new Uri($"http://127.0.0.1:{admin}/ready"), new Uri($"http://127.0.0.1:{admin}/"))
            {
                Urls = [urls.Gateways[i].Url, new Uri($"http://127.0.0.1:{admin}/")],
            });
        }

        return plan;
    }

    private Dictionary<string, string> Common(string resource) => new(StringComparer.Ordinal)
    {
        ["ASPIREMESH_RUN_ID"] = _runId,
        ["ASPIREMESH_RESOURCE"] = resource,
        ["DOTNET_ENVIRONMENT"] = "Development",
        ["ASPNETCORE_ENVIRONMENT"] = "Development",
        ["DOTNET_NOLOGO"] = "1",
        ["Logging__Console__FormatterName"] = "simple",
        ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",
        ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Warning",
        ["Logging__LogLevel__System.Net.Http.HttpClient"] = "Warning",
    };

    private static ProcessSpec Dotnet(string assembly, IReadOnlyList<string> args, Dictionary<string, string> env) =>
        new(DotNetHost.Path, [assembly, .. args], env, Path.GetDirectoryName(assembly));

    private void Start(IEnumerable<PlannedResource> resources)
    {
        foreach (var resource in resources)
        {
            var supervisor = new ResourceSupervisor(resource, console, _publisher);
            lock (_supervisors)
            {
                _supervisors.Add(supervisor);
            }

            supervisor.Start();
        }
    }

    private async Task<bool> WaitReadyAsync(IReadOnlyList<PlannedResource> resources, TimeSpan timeout, CancellationToken stopping)
    {
        var pending = resources.ToDictionary(r => r.Name, r => "not answering yet", StringComparer.Ordinal);
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        var nextProgress = Stopwatch.GetTimestamp() + (long)(ProgressInterval.TotalSeconds * Stopwatch.Frequency);
        while (pending.Count > 0)
        {
            var results = await Task.WhenAll(resources.Where(r => pending.ContainsKey(r.Name)).Select(async r => (r, await ProbeAsync(r.ReadyUrl, stopping).ConfigureAwait(false)))).ConfigureAwait(false);
            foreach (var (resource, (ready, detail)) in results)
            {
                if (ready)
                {
                    pending.Remove(resource.Name);
                    console.Info($"  ready: {resource.Name}");
                }
                else
                {
                    pending[resource.Name] = detail;
                }
            }

            if (pending.Count == 0)
            {
                return true;
            }

            var now = Stopwatch.GetTimestamp();
            if (now > deadline)
            {
                foreach (var (name, detail) in pending)
                {
                    console.Error($"error: {name} did not become ready within {timeout.TotalSeconds:0} s: {detail}");
                }

                return false;
            }

            if (now > nextProgress)
            {
                console.Info($"  waiting for {pending.Count} resource(s): {string.Join(", ", pending.Keys)}");
                nextProgress = now + (long)(ProgressInterval.TotalSeconds * Stopwatch.Frequency);
            }

            await Task.Delay(ProbeInterval, stopping).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Waits until every proxy serves a snapshot at least as new as the control plane's state once all are ready.</summary>
    private async Task<bool> WaitConvergedAsync(IReadOnlyList<PlannedResource> plan, Uri controlPlane, CancellationToken stopping)
    {
        long version;
        try
        {
            var services = await _probe.GetFromJsonAsync(new Uri(controlPlane, "v1/services"), MeshJsonContext.Tolerant.ServiceList, stopping).ConfigureAwait(false);
            version = services?.Version ?? 0;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException && !stopping.IsCancellationRequested)
        {
            console.Error($"error: the control plane did not answer {new Uri(controlPlane, "v1/services")}: {ex.Message}");
            return false;
        }

        var proxies = plan.Where(r => r.AdminUrl is not null).ToList();
        var deadline = Stopwatch.GetTimestamp() + (long)(30 * Stopwatch.Frequency);
        while (true)
        {
            var lagging = new List<string>();
            foreach (var proxy in proxies)
            {
                var readiness = await ReadReadinessAsync(proxy.ReadyUrl, stopping).ConfigureAwait(false);
                if (readiness is null || readiness.Version < version)
                {
                    lagging.Add($"{proxy.Name} (version {readiness?.Version ?? 0})");
                }
            }

            if (lagging.Count == 0)
            {
                return true;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                console.Error($"error: these proxies did not reach mesh state version {version} within 30 s: {string.Join(", ", lagging)}");
                return false;
            }

            await Task.Delay(ProbeInterval, stopping).ConfigureAwait(false);
        }
    }

    private async Task<(bool Ready, string Detail)> ProbeAsync(Uri url, CancellationToken stopping)
    {
        try
        {
            using var response = await _probe.GetAsync(url, stopping).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return (true, "");
            }

            var body = await response.Content.ReadAsStringAsync(stopping).ConfigureAwait(false);
            return (false, $"{url} answered {(int)response.StatusCode}: {body}");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !stopping.IsCancellationRequested)
        {
            return (false, $"{url}: {ex.Message}");
        }
    }

    private async Task<ProxyReadiness?> ReadReadinessAsync(Uri url, CancellationToken stopping)
    {
        try
        {
            using var response = await _probe.GetAsync(url, stopping).ConfigureAwait(false);
            return await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.ProxyReadiness, stopping).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException && !stopping.IsCancellationRequested)
        {
            return null;
        }
    }

    private void BeginStopAll()
    {
        lock (_supervisors)
        {
            foreach (var supervisor in _supervisors)
            {
                supervisor.BeginStop();
            }
        }
    }

    private async Task StopAllAsync()
    {
        List<ResourceSupervisor> supervisors;
        lock (_supervisors)
        {
            supervisors = [.. _supervisors];
            _supervisors.Clear();
        }

        // Entry first, so no new traffic arrives while services stop; the control plane last, so sidecars can deregister.
        foreach (var kinds in (ResourceKind[][])[[ResourceKind.Gateway], [ResourceKind.App, ResourceKind.Sidecar], [ResourceKind.ControlPlane]])
        {
            await Task.WhenAll(supervisors.Where(s => kinds.Contains(s.Resource.Kind)).Select(s => s.StopAsync(app.Options.StopGracePeriod))).ConfigureAwait(false);
        }
    }

    private sealed record MeshUrls(Uri ControlPlane, IReadOnlyList<(string Name, Uri Url)> Gateways);
}
