using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.Hosting.Model;

namespace AspireMesh.Hosting.Publishing;

/// <summary>
/// What both publishers write, decided once: the ports inside a pod, the projects and their images, the bootstrap key,
/// one service-wide bootstrap credential per service and per gateway, and the mesh config. Mirrors run mode
/// (<see cref="Orchestration.MeshRunner"/>): the same processes with the same options, on fixed ports instead of free ones.
/// </summary>
internal sealed class PublishedTopology
{
    /// <summary>How long a published credential can be redeemed: long enough for a rollout, short enough to need re-publishing.</summary>
    public static readonly TimeSpan CredentialLifetime = TimeSpan.FromDays(30);

    /// <summary>Where the application listens inside its pod (loopback: only its sidecar calls it).</summary>
    public const int AppPort = 8080;

    /// <summary>The sidecar's inbound port (peers' sidecars and gateways call it, mTLS).</summary>
    public const int InboundPort = 15006;

    /// <summary>The sidecar's inbound HTTP/2 (h2c) port.</summary>
    public const int InboundHttp2Port = 15007;

    /// <summary>The sidecar's outbound port: the app's HTTP_PROXY.</summary>
    public const int OutboundPort = 15001;

    /// <summary>The sidecar's outbound HTTP/2 port.</summary>
    public const int OutboundHttp2Port = 15002;

    /// <summary>The proxies' admin port (loopback).</summary>
    public const int AdminPort = 15000;

    /// <summary>
    /// The proxies' telemetry port, on the pod's address (Istio's merged metrics port): /metrics for Prometheus, /ready for
    /// the kubelet, /stats and /tap for the control plane over mTLS.
    /// </summary>
    public const int TelemetryPort = 15020;

    /// <summary>The gateway's public port inside its pod.</summary>
    public const int GatewayPort = 8080;

    /// <summary>The control plane's port (Eureka's customary one).</summary>
    public const int ControlPlanePort = 8761;

    public PublishedTopology(MeshApplication app, PublishOptions options, PublishedSecrets secrets, TimeProvider time)
    {
        App = app;
        Options = options;
        var errors = new List<string>();
        ControlPlane = Infrastructure(app, "ControlPlane.csproj", errors);
        MeshProxy = Infrastructure(app, "MeshProxy.csproj", errors);
        Gateway = app.Gateways.Count > 0 ? Infrastructure(app, "Gateway.csproj", errors) : null;
        if (errors.Count > 0)
        {
            throw new TopologyException(errors);
        }

        Services = [.. app.Projects.Select(p => Project(app, p.Name, app.Locator.ResolveProjectPath(p.ProjectPath)))];
        Secrets = secrets;
        var credentials = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var service in app.Projects)
        {
            // No instance: every pod of the service redeems it once, under its own pod name.
            credentials[SidecarCredentialKey(service.Name)] = BootstrapCredential.Mint(BootstrapKey, ProxyKinds.Sidecar, service.Name, instance: null, CredentialLifetime, time);
        }

        foreach (var gateway in app.Gateways)
        {
            credentials[GatewayCredentialKey(gateway.Name)] = BootstrapCredential.Mint(BootstrapKey, ProxyKinds.Gateway, gateway.Name, instance: null, CredentialLifetime, time);
        }

        Credentials = credentials;
        MeshConfigJson = JsonSerializer.Serialize(app.Config, MeshJsonContext.Default.MeshConfig);
    }

    public MeshApplication App { get; }

    /// <summary>
    /// The root of the mesh's CA, made at publish time (or kept from an earlier publish) so that the proxies can be given it: they trust the control plane's HTTPS
    /// certificate by it (<see cref="AspireMesh.Contracts.Client.ControlPlaneTrust"/>). The control plane issues from it.
    /// </summary>
    public string RootCertificatePem => Secrets.RootCertificatePem;

    /// <summary>The private key of <see cref="RootCertificatePem"/> (PKCS#8 PEM), for the control plane alone.</summary>
    public string RootKeyPem => Secrets.RootKeyPem;

    /// <summary>The root, the bootstrap key and the admin token: new, or kept from an earlier publish.</summary>
    public PublishedSecrets Secrets { get; }

    public PublishOptions Options { get; }

    public PublishedProject ControlPlane { get; }

    public PublishedProject MeshProxy { get; }

    public PublishedProject? Gateway { get; }

    /// <summary>The services, in the model's order.</summary>
    public IReadOnlyList<PublishedProject> Services { get; }

    /// <summary>The key the control plane checks bootstrap credentials with.</summary>
    public string BootstrapKey => Secrets.BootstrapKey;

    /// <summary>Bootstrap credentials by their key in the Secret (<c>sidecar.&lt;service&gt;</c>, <c>gateway.&lt;name&gt;</c>).</summary>
    public IReadOnlyDictionary<string, string> Credentials { get; }

    /// <summary>The mesh config, as run mode writes it for the control plane.</summary>
    public string MeshConfigJson { get; }

    public static string SidecarCredentialKey(string service) => $"sidecar.{service}";

    public static string GatewayCredentialKey(string gateway) => $"gateway.{gateway}";

    /// <summary>The application's environment, as run mode sets it (minus what only a local run needs).</summary>
    public static Dictionary<string, string> AppEnvironment(ProjectResource project)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ASPIREMESH_SERVICE"] = project.Name,
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{AppPort}",
            ["HTTP_PROXY"] = $"http://127.0.0.1:{OutboundPort}",
            ["NO_PROXY"] = "localhost,127.0.0.1,::1",
            ["OTEL_SERVICE_NAME"] = project.Name,
        };
        foreach (var reference in project.References.Distinct(StringComparer.Ordinal))
        {
            env[$"services__{reference}__http__0"] = $"http://{reference}";
        }

        foreach (var (key, value) in project.Environment)
        {
            env[key] = value;
        }

        return env;
    }

    /// <summary>The sidecar's options, as run mode gives them, with the inbound side open to other pods.</summary>
    public static List<string> SidecarArguments(string service, string? instanceId, string advertiseHost, string controlPlane)
    {
        List<string> args = ["--service", service];
        if (instanceId is not null)
        {
            args.AddRange(["--instance-id", instanceId]);
        }

        args.AddRange([
            "--app-url", $"http://127.0.0.1:{AppPort}",
            "--inbound-address", "0.0.0.0", "--advertise-host", advertiseHost,
            "--inbound-port", $"{InboundPort}", "--inbound-h2-port", $"{InboundHttp2Port}",
            "--outbound-port", $"{OutboundPort}", "--outbound-h2-port", $"{OutboundHttp2Port}",
            "--admin-port", $"{AdminPort}", "--telemetry-port", $"{TelemetryPort}", "--control-plane", controlPlane,
        ]);
        return args;
    }

    /// <summary>The gateway's options, as run mode gives them, listening for other pods, which reach it at <paramref name="advertiseHost"/>.</summary>
    public static List<string> GatewayArguments(string name, string advertiseHost, string controlPlane) =>
        ["--name", name, "--host", "0.0.0.0", "--port", $"{GatewayPort}", "--admin-port", $"{AdminPort}", "--telemetry-port", $"{TelemetryPort}",
            "--advertise-host", advertiseHost, "--control-plane", controlPlane];

    /// <summary>The image of <paramref name="project"/>: [registry/]repository:tag.</summary>
    public string Image(PublishedProject project) =>
        $"{(Options.ImageRegistry is { } registry ? registry + "/" : "")}{project.Repository}:{Options.ImageTag}";

    private static PublishedProject Infrastructure(MeshApplication app, string fileName, List<string> errors)
    {
        var path = app.Locator.FindProjectByFileName(fileName);
        if (path is null)
        {
            errors.Add($"the AppHost project does not reference {fileName} (EmitProjectPath=\"true\"), so it cannot be published.");
            return new PublishedProject(fileName, fileName, fileName);
        }

        return Project(app, Path.GetFileNameWithoutExtension(fileName).ToLowerInvariant(), path);
    }

    // The SDK container repository the project sets (ContainerRepository); the SDK's own default otherwise.
    private static PublishedProject Project(MeshApplication app, string name, string fullPath) =>
        new(name, fullPath, app.Locator.FindContainerRepository(fullPath) ?? Path.GetFileNameWithoutExtension(fullPath).ToLowerInvariant());
}

/// <summary>A deployable project: its resource name, project file and container repository.</summary>
internal sealed record PublishedProject(string Name, string ProjectPath, string Repository);
