using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Security;
using YamlDotNet.RepresentationModel;

namespace AspireMesh.Hosting.Tests.Publishing;

/// <summary>The real AppHost (the storefront) in publish mode, as azd, aspirate and a user run it: a process that writes files.</summary>
public sealed class PublishModeTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);
    private static readonly string[] ManifestTypes = ["project.v0", "project.v1", "container.v0", "container.v1", "dockerfile.v0", "parameter.v0", "value.v0"];
    private readonly DirectoryInfo _output = Directory.CreateTempSubdirectory("aspiremesh-publish-");

    private static string AppHost => BuiltProjects.Assembly(typeof(PublishModeTests).Assembly, "AppHost.csproj");

    public void Dispose() => _output.Delete(recursive: true);

    private static async Task<(int Code, TestProcess Process)> PublishAsync(params string[] args)
    {
        var process = await TestProcess.StartDotnetAsync("apphost", AppHost, args, new Dictionary<string, string> { ["NO_COLOR"] = "1" });
        var code = await process.Exited.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        return (code, process);
    }

    [Fact]
    public async Task Manifest_Storefront_WritesAspireManifestWithEveryResourceAndStartsNothing()
    {
        var path = Path.Combine(_output.FullName, "deploy", "aspire-manifest.json");
        var (code, process) = await using_(await PublishAsync("--publisher", "manifest", "--output-path", path));

        Assert.True(code == 0, process.Output);
        Assert.Equal("", process.ErrorOutput); // aspirate treats anything on stderr as a failure
        Assert.Contains($"Published manifest to: {path}", process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("starting", process.Output, StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken));
        Assert.Equal("https://json.schemastore.org/aspire-8.0.json", manifest.RootElement.GetProperty("$schema").GetString());
        var resources = manifest.RootElement.GetProperty("resources").EnumerateObject().ToDictionary(r => r.Name, r => r.Value);
        Assert.Equal(
            ["aspiremesh-admin-token", "aspiremesh-bootstrap-key", "catalog", "catalog-proxy", "catalog-proxy-bootstrap-token", "controlplane", "frontend", "frontend-proxy",
             "frontend-proxy-bootstrap-token", "gateway", "gateway-bootstrap-token", "inventory", "inventory-proxy", "inventory-proxy-bootstrap-token"],
            resources.Keys.Order(StringComparer.Ordinal));

        // The schema's rules for the types written: a known type; project.v0 has a path (relative to the manifest's folder,
        // naming a real project), only its own fields, string env values and complete bindings; parameter.v0 has value and inputs.
        var manifestDirectory = Path.GetDirectoryName(path)!;
        foreach (var (name, resource) in resources)
        {
            var type = resource.GetProperty("type").GetString();
            Assert.Contains(type, ManifestTypes);
            if (type == "project.v0")
            {
                Assert.All(resource.EnumerateObject(), p => Assert.Contains(p.Name, new[] { "type", "path", "args", "env", "bindings", "containerFiles" }));
                var projectPath = resource.GetProperty("path").GetString()!;
                Assert.False(Path.IsPathRooted(projectPath), $"{name}: {projectPath}");
                Assert.DoesNotContain('\\', projectPath);
                Assert.True(File.Exists(Path.Combine(manifestDirectory, projectPath)), $"{name}: {projectPath} does not exist relative to the manifest");
                Assert.All(resource.GetProperty("env").EnumerateObject(), e => Assert.Equal(JsonValueKind.String, e.Value.ValueKind));
                foreach (var binding in resource.GetProperty("bindings").EnumerateObject())
                {
                    Assert.Equal("tcp", binding.Value.GetProperty("protocol").GetString());
                    Assert.Contains(binding.Value.GetProperty("transport").GetString(), new[] { "http", "http2", "tcp" });
                    Assert.Equal("http", binding.Value.GetProperty("scheme").GetString());
                    Assert.True(binding.Value.GetProperty("targetPort").GetInt32() > 0);
                }
            }
            else
            {
                Assert.Equal($"{{{name}.inputs.value}}", resource.GetProperty("value").GetString());
                Assert.True(resource.GetProperty("inputs").GetProperty("value").GetProperty("secret").GetBoolean(), name);
            }
        }

        Assert.EndsWith("ControlPlane/ControlPlane.csproj", resources["controlplane"].GetProperty("path").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("MeshProxy/MeshProxy.csproj", resources["catalog-proxy"].GetProperty("path").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("samples/Storefront/Catalog/Catalog.csproj", resources["catalog"].GetProperty("path").GetString(), StringComparison.Ordinal);
        Assert.True(resources["gateway"].GetProperty("bindings").GetProperty("http").GetProperty("external").GetBoolean());

        // The control plane gets the mesh config inline and the parameters' references.
        var controlPlaneEnv = resources["controlplane"].GetProperty("env");
        var config = JsonSerializer.Deserialize(controlPlaneEnv.GetProperty("ControlPlane__Config").GetString()!, MeshJsonContext.Default.MeshConfig)!;
        Assert.Equal(["inventory", "catalog", "frontend"], config.Services.Select(s => s.Name));
        Assert.Equal("{aspiremesh-bootstrap-key.value}", controlPlaneEnv.GetProperty(BootstrapCredential.KeyEnvironmentVariable).GetString());

        // Each sidecar: its service, the control plane's binding, its credential parameter; the app's proxy is the sidecar.
        var proxyArgs = resources["catalog-proxy"].GetProperty("args").EnumerateArray().Select(a => a.GetString()).ToList();
        Assert.Equal("catalog", proxyArgs[proxyArgs.IndexOf("--service") + 1]);
        Assert.Equal("{controlplane.bindings.http.url}", proxyArgs[proxyArgs.IndexOf("--control-plane") + 1]);
        Assert.Equal("15020", proxyArgs[proxyArgs.IndexOf("--telemetry-port") + 1]);
        Assert.Equal(15020, resources["catalog-proxy"].GetProperty("bindings").GetProperty("telemetry").GetProperty("targetPort").GetInt32());
        var gatewayArgs = resources["gateway"].GetProperty("args").EnumerateArray().Select(a => a.GetString()).ToList();
        Assert.Equal(("15020", "gateway"), (gatewayArgs[gatewayArgs.IndexOf("--telemetry-port") + 1], gatewayArgs[gatewayArgs.IndexOf("--advertise-host") + 1]));
        Assert.Equal("{catalog-proxy-bootstrap-token.value}", resources["catalog-proxy"].GetProperty("env").GetProperty(BootstrapCredential.EnvironmentVariable).GetString());
        // The sidecar's runtime settings (its 2 MB gen0 budget) travel with it, as the AppHost gives them.
        Assert.Equal("200000", resources["catalog-proxy"].GetProperty("env").GetProperty("DOTNET_GCgen0size").GetString());
        Assert.False(resources["gateway"].GetProperty("env").TryGetProperty("DOTNET_GCgen0size", out _));
        Assert.Equal($"http://127.0.0.1:{proxyArgs[proxyArgs.IndexOf("--outbound-port") + 1]}", resources["catalog"].GetProperty("env").GetProperty("HTTP_PROXY").GetString());
        Assert.Equal("http://inventory", resources["catalog"].GetProperty("env").GetProperty("services__inventory__http__0").GetString());

        // Credentials minted at publish time verify with the published key and name their workload, for any instance.
        var key = Default(resources["aspiremesh-bootstrap-key"]);
        foreach (var (kind, name, parameter) in new[] { ("sidecar", "catalog", "catalog-proxy-bootstrap-token"), ("sidecar", "inventory", "inventory-proxy-bootstrap-token"), ("gateway", "gateway", "gateway-bootstrap-token") })
        {
            Assert.True(BootstrapCredential.TryVerify(key, Default(resources[parameter]), DateTimeOffset.UtcNow, out var claims, out var error), error);
            Assert.Equal((kind, name, (string?)null), (claims!.Kind, claims.Name, claims.Instance));
        }
    }

    [Fact]
    public async Task Manifest_OutputPathIsDirectory_WritesAspireManifestJsonInIt()
    {
        var (code, process) = await using_(await PublishAsync("--publisher", "manifest", "--output-path", _output.FullName));

        Assert.True(code == 0, process.Output);
        Assert.True(File.Exists(Path.Combine(_output.FullName, "aspire-manifest.json")), process.Output);
    }

    [Fact]
    public async Task Kubernetes_Storefront_WritesConsistentObjects()
    {
        var directory = Path.Combine(_output.FullName, "k8s");
        var (code, process) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory, "--namespace", "shop",
            "--image-registry", "registry.example:5000/team", "--image-tag", "1.2.3", "--storage-class", "fast-ssd"));

        Assert.True(code == 0, process.Output);
        Assert.Equal("", process.ErrorOutput);
        var objects = Directory.GetFiles(directory, "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml").SelectMany(Load).ToList();
        foreach (var file in Directory.GetFiles(directory, "*.yaml"))
        {
            Assert.Contains($"wrote {file}", process.Output, StringComparison.Ordinal);
        }

        var kustomization = Load(Path.Combine(directory, "kustomization.yaml")).Single();
        Assert.Equal(Directory.GetFiles(directory, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order(),
            Seq(kustomization, "resources").Select(Text).Order());

        Assert.Equal("shop", Text(Map(objects.Single(o => Text(o, "kind") == "Namespace"), "metadata"), "name"));
        Assert.All(objects.Where(o => Text(o, "kind") != "Namespace"), o => Assert.Equal("shop", Text(Map(o, "metadata"), "namespace")));

        var deployments = objects.Where(o => Text(o, "kind") == "Deployment").ToDictionary(o => Text(Map(o, "metadata"), "name"));
        Assert.Equal(["catalog", "controlplane", "frontend", "gateway", "inventory"], deployments.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("2", Text(Map(deployments["catalog"], "spec"), "replicas"));
        Assert.Equal("1", Text(Map(deployments["inventory"], "spec"), "replicas"));

        var secrets = objects.Where(o => Text(o, "kind") == "Secret").ToDictionary(o => Text(Map(o, "metadata"), "name"), o => Map(o, "stringData"));
        var configMaps = objects.Where(o => Text(o, "kind") == "ConfigMap").ToDictionary(o => Text(Map(o, "metadata"), "name"), o => Map(o, "data"));
        var key = Text(secrets["aspiremesh-bootstrap"], "bootstrap-key");

        // Containers: the control plane alone; every service its app and its sidecar; the gateway alone. Images from
        // the projects' ContainerRepository with the registry and tag given.
        string[] Containers(string deployment) => [.. Seq(Pod(deployments[deployment]), "containers").Select(c => Text(c, "image"))];
        Assert.Equal(["registry.example:5000/team/aspiremesh/controlplane:1.2.3"], Containers("controlplane"));
        Assert.Equal(["registry.example:5000/team/aspiremesh/gateway:1.2.3"], Containers("gateway"));
        foreach (var service in new[] { "inventory", "catalog", "frontend" })
        {
            Assert.Equal([$"registry.example:5000/team/aspiremesh-samples/{service}:1.2.3", "registry.example:5000/team/aspiremesh/meshproxy:1.2.3"], Containers(service));
            var containers = Seq(Pod(deployments[service]), "containers").ToDictionary(c => Text(c, "name"));
            var sidecar = containers["mesh-proxy"];
            var args = Seq(sidecar, "args").Select(Text).ToList();
            string Arg(string option) => args[args.IndexOf(option) + 1];
            Assert.Equal((service, "$(POD_NAME)", "0.0.0.0", "$(POD_IP)", "https://controlplane:8761"),
                (Arg("--service"), Arg("--instance-id"), Arg("--inbound-address"), Arg("--advertise-host"), Arg("--control-plane")));
            var sidecarEnv = Seq(sidecar, "env").ToDictionary(e => Text(e, "name"));
            Assert.Equal("metadata.name", Text(Map(Map(sidecarEnv["POD_NAME"], "valueFrom"), "fieldRef"), "fieldPath"));
            Assert.Equal("status.podIP", Text(Map(Map(sidecarEnv["POD_IP"], "valueFrom"), "fieldRef"), "fieldPath"));
            Assert.Equal("200000", Text(sidecarEnv["DOTNET_GCgen0size"], "value"));
            Assert.Equal(("aspiremesh-config", "ca.crt"), RootRef(sidecarEnv));
            var appEnv = Seq(containers["app"], "env").ToDictionary(e => Text(e, "name"));
            Assert.DoesNotContain("DOTNET_GCgen0size", appEnv.Keys);
            Assert.Equal($"http://127.0.0.1:{Arg("--outbound-port")}", Text(appEnv["HTTP_PROXY"], "value"));
            Assert.Equal(Arg("--app-url"), Text(appEnv["ASPNETCORE_URLS"], "value"));

            // The control plane reads the sidecar's stats and tap on its telemetry port, on the pod's address; Prometheus
            // scrapes it by the pod's annotations, the kubelet asks it whether the sidecar is ready.
            AssertTelemetryPort(deployments[service], sidecar, args);

            // The service's credential: signed with the published key, for this service's sidecars, any pod (each once).
            var credentialRef = Map(Map(sidecarEnv[BootstrapCredential.EnvironmentVariable], "valueFrom"), "secretKeyRef");
            Assert.True(BootstrapCredential.TryVerify(key, Text(secrets[Text(credentialRef, "name")], Text(credentialRef, "key")), DateTimeOffset.UtcNow, out var claims, out var error), error);
            Assert.Equal(("sidecar", service, (string?)null), (claims!.Kind, claims.Name, claims.Instance));
            Assert.True(claims.Expires > DateTimeOffset.UtcNow.AddDays(29).ToUnixTimeSeconds(), $"expires {DateTimeOffset.FromUnixTimeSeconds(claims.Expires)}");
        }

        var gatewayEnv = Seq(Seq(Pod(deployments["gateway"]), "containers").Single(), "env").ToDictionary(e => Text(e, "name"));
        var gatewayRef = Map(Map(gatewayEnv[BootstrapCredential.EnvironmentVariable], "valueFrom"), "secretKeyRef");
        Assert.True(BootstrapCredential.TryVerify(key, Text(secrets[Text(gatewayRef, "name")], Text(gatewayRef, "key")), DateTimeOffset.UtcNow, out var gatewayClaims, out var gatewayError), gatewayError);
        Assert.Equal(("gateway", "gateway"), (gatewayClaims!.Kind, gatewayClaims.Name));
        Assert.Equal(("aspiremesh-config", "ca.crt"), RootRef(gatewayEnv));
        var gatewayContainer = Seq(Pod(deployments["gateway"]), "containers").Single();
        var gatewayArgs = Seq(gatewayContainer, "args").Select(Text).ToList();
        Assert.Equal(("0.0.0.0", "$(POD_IP)"), (gatewayArgs[gatewayArgs.IndexOf("--host") + 1], gatewayArgs[gatewayArgs.IndexOf("--advertise-host") + 1]));
        Assert.Equal("status.podIP", Text(Map(Map(gatewayEnv["POD_IP"], "valueFrom"), "fieldRef"), "fieldPath"));
        AssertTelemetryPort(deployments["gateway"], gatewayContainer, gatewayArgs);

        // Every secretKeyRef and configMap volume names an existing key or map.
        foreach (var deployment in deployments.Values)
        {
            foreach (var container in Seq(Pod(deployment), "containers"))
            {
                foreach (var env in container.Children.ContainsKey("env") ? Seq(container, "env") : [])
                {
                    if (env.Children.ContainsKey("valueFrom") && Map(env, "valueFrom").Children.ContainsKey("secretKeyRef"))
                    {
                        var reference = Map(Map(env, "valueFrom"), "secretKeyRef");
                        Assert.True(secrets.TryGetValue(Text(reference, "name"), out var secret) && secret.Children.ContainsKey(Text(reference, "key")),
                            $"{Text(Map(deployment, "metadata"), "name")}/{Text(container, "name")}: {Text(env, "name")} refers to a missing secret key");
                    }

                    if (env.Children.ContainsKey("valueFrom") && Map(env, "valueFrom").Children.ContainsKey("configMapKeyRef"))
                    {
                        var reference = Map(Map(env, "valueFrom"), "configMapKeyRef");
                        Assert.True(configMaps.TryGetValue(Text(reference, "name"), out var map) && map.Children.ContainsKey(Text(reference, "key")),
                            $"{Text(Map(deployment, "metadata"), "name")}/{Text(container, "name")}: {Text(env, "name")} refers to a missing config map key");
                    }
                }
            }

            foreach (var volume in Seq(Pod(deployment), "volumes").Where(v => v.Children.ContainsKey("configMap")))
            {
                Assert.Contains(Text(Map(volume, "configMap"), "name"), configMaps.Keys);
            }

            foreach (var volume in Seq(Pod(deployment), "volumes").Where(v => v.Children.ContainsKey("secret")))
            {
                Assert.Contains(Text(Map(volume, "secret"), "secretName"), secrets.Keys);
            }
        }

        // The control plane: the admin token and bootstrap key from the Secrets, the mesh config from the ConfigMap.
        var controlPlane = Seq(Pod(deployments["controlplane"]), "containers").Single();
        var controlPlaneArgs = Seq(controlPlane, "args").Select(Text).ToList();
        var mount = Seq(controlPlane, "volumeMounts").Single(m => Text(m, "name") == "config");
        Assert.Equal($"{Text(mount, "mountPath")}/mesh.json", controlPlaneArgs[controlPlaneArgs.IndexOf("--config") + 1]);
        var meshConfig = JsonSerializer.Deserialize(Text(configMaps["aspiremesh-config"], "mesh.json"), MeshJsonContext.Default.MeshConfig)!;
        Assert.Equal(["inventory", "catalog", "frontend"], meshConfig.Services.Select(s => s.Name));
        Assert.False(string.IsNullOrEmpty(Text(secrets["aspiremesh-admin"], "token")));

        // It serves HTTPS only, with a certificate from the published root (the proxies' ca.crt, its key in a Secret of
        // its own, mounted for the control plane alone) for the names the proxies reach it by.
        string Setting(string name) => controlPlaneArgs.Single(a => a.StartsWith($"--ControlPlane:{name}=", StringComparison.Ordinal)).Split('=', 2)[1];
        Assert.Equal("https://+:8761", controlPlaneArgs[controlPlaneArgs.IndexOf("--urls") + 1]);
        Assert.Equal($"{Text(mount, "mountPath")}/ca.crt", Setting("CaCertificate"));
        var caMount = Seq(controlPlane, "volumeMounts").Single(m => Text(m, "name") == "ca");
        Assert.Equal($"{Text(caMount, "mountPath")}/ca.key", Setting("CaKey"));
        Assert.Equal("aspiremesh-ca", Text(Map(Seq(Pod(deployments["controlplane"]), "volumes").Single(v => Text(v, "name") == "ca"), "secret"), "secretName"));
        Assert.Equal("controlplane,controlplane.shop,controlplane.shop.svc,controlplane.shop.svc.cluster.local", Setting("ServerNames"));
        Assert.Equal("HTTPS", Text(Map(Map(controlPlane, "readinessProbe"), "httpGet"), "scheme"));
        using (var root = X509Certificate2.CreateFromPem(Text(configMaps["aspiremesh-config"], "ca.crt"), Text(secrets["aspiremesh-ca"], "ca.key")))
        {
            Assert.True(root.HasPrivateKey);
            Assert.True(root.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        }

        // Its state directory outlives the pod: a claim of its own, mounted by one pod at a time, writable by the image's user.
        var claim = objects.Single(o => Text(o, "kind") == "PersistentVolumeClaim");
        Assert.Equal(("controlplane-state", "ReadWriteOnce", "1Gi", "fast-ssd"), (Text(Map(claim, "metadata"), "name"), Seq(Map(claim, "spec"), "accessModes").Select(Text).Single(),
            Text(Map(Map(Map(claim, "spec"), "resources"), "requests"), "storage"), Text(Map(claim, "spec"), "storageClassName")));
        var stateVolume = Seq(Pod(deployments["controlplane"]), "volumes").Single(v => Text(v, "name") == "state");
        Assert.Equal("controlplane-state", Text(Map(stateVolume, "persistentVolumeClaim"), "claimName"));
        var stateMount = Text(Seq(controlPlane, "volumeMounts").Single(m => Text(m, "name") == "state"), "mountPath");
        Assert.StartsWith(stateMount + "/", controlPlaneArgs[controlPlaneArgs.IndexOf("--state-dir") + 1], StringComparison.Ordinal);
        Assert.Equal("Recreate", Text(Map(Map(deployments["controlplane"], "spec"), "strategy"), "type"));
        // Cleared, so that applying over a Deployment an earlier publish wrote (RollingUpdate) is not refused.
        Assert.Equal("null", Text(Map(Map(deployments["controlplane"], "spec"), "strategy"), "rollingUpdate"));
        Assert.Equal("1654", Text(Map(Pod(deployments["controlplane"]), "securityContext"), "fsGroup"));

        // Every pod carries the root's hash: applying a publish with a new root restarts them all, so none keeps trusting the old one.
        var rootHash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(Text(configMaps["aspiremesh-config"], "ca.crt")))).ToLowerInvariant();
        Assert.All(deployments.Values, d => Assert.Equal(rootHash, Text(Map(Map(Map(Map(d, "spec"), "template"), "metadata"), "annotations"), "aspiremesh.io/ca-sha256")));

        Assert.DoesNotContain("ca.key", secrets["aspiremesh-bootstrap"].Children.Keys.Select(Text));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(directory, "secrets.yaml")));
        }

        // Services select the pods of a Deployment, on ports those pods' containers expose.
        var services = objects.Where(o => Text(o, "kind") == "Service").ToList();
        Assert.Equal(["catalog", "controlplane", "frontend", "gateway", "inventory"], services.Select(s => Text(Map(s, "metadata"), "name")).Order(StringComparer.Ordinal));
        foreach (var service in services)
        {
            var selector = Map(Map(service, "spec"), "selector").Children.ToDictionary(p => Text(p.Key), p => Text(p.Value));
            var selected = deployments.Values.Where(d => selector.All(s => Map(Map(Map(Map(d, "spec"), "template"), "metadata"), "labels").Children
                .Any(l => Text(l.Key) == s.Key && Text(l.Value) == s.Value))).ToList();
            var name = Text(Map(service, "metadata"), "name");
            Assert.True(selected.Count == 1, $"service {name} selects {selected.Count} deployments");
            var containerPorts = Seq(Pod(selected[0]), "containers").SelectMany(c => c.Children.ContainsKey("ports") ? Seq(c, "ports") : []).Select(p => Text(p, "containerPort")).ToHashSet();
            Assert.All(Seq(Map(service, "spec"), "ports"), p => Assert.Contains(Text(p, "targetPort"), containerPorts));
        }

        Assert.Equal("LoadBalancer", Text(Map(services.Single(s => Text(Map(s, "metadata"), "name") == "gateway"), "spec"), "type"));
    }

    /// <summary>
    /// A proxy's telemetry port: given on its command line, exposed by its container, probed for readiness and liveness,
    /// and named in its pod's scrape annotations.
    /// </summary>
    private static void AssertTelemetryPort(YamlMappingNode deployment, YamlMappingNode container, List<string> args)
    {
        Assert.Equal("15020", args[args.IndexOf("--telemetry-port") + 1]);
        Assert.Contains(Seq(container, "ports"), p => Text(p, "name") == "telemetry" && Text(p, "containerPort") == "15020");
        Assert.Equal(("/ready", "15020"), (Text(Map(Map(container, "readinessProbe"), "httpGet"), "path"), Text(Map(Map(container, "readinessProbe"), "httpGet"), "port")));
        Assert.Equal(("/live", "15020"), (Text(Map(Map(container, "livenessProbe"), "httpGet"), "path"), Text(Map(Map(container, "livenessProbe"), "httpGet"), "port")));
        // Liveness waits for start-up, which waits for the control plane: a slow control plane does not get proxies restarted.
        Assert.Equal(("/live", "60"), (Text(Map(Map(container, "startupProbe"), "httpGet"), "path"), Text(Map(container, "startupProbe"), "failureThreshold")));
        var annotations = Map(Map(Map(Map(deployment, "spec"), "template"), "metadata"), "annotations").Children.ToDictionary(p => Text(p.Key), p => Text(p.Value));
        Assert.Equal(("true", "15020", "/metrics"), (annotations["prometheus.io/scrape"], annotations["prometheus.io/port"], annotations["prometheus.io/path"]));
    }

    /// <summary>The config map and key a proxy's <c>ASPIREMESH_CONTROL_PLANE_CA</c> comes from.</summary>
    private static (string Name, string Key) RootRef(Dictionary<string, YamlMappingNode> env)
    {
        var reference = Map(Map(env["ASPIREMESH_CONTROL_PLANE_CA"], "valueFrom"), "configMapKeyRef");
        return (Text(reference, "name"), Text(reference, "key"));
    }

    [Theory]
    [InlineData("--publisher helm --output-path OUT", "--publisher: 'helm' is not a publisher")]
    [InlineData("--publisher manifest", "--output-path is required with --publisher manifest")]
    [InlineData("--publisher kubernetes --output-path OUT --namespace Bad_Name", "--namespace: 'Bad_Name' is not a Kubernetes namespace name")]
    [InlineData("--publisher kubernetes --output-path OUT --image-tag -bad", "--image-tag: '-bad' is not an image tag")]
    [InlineData("--publisher kubernetes --output-path OUT --image-registry https://x", "--image-registry: 'https://x' is not a registry")]
    [InlineData("--publisher manifest --output-path OUT --namespace shop", "--namespace applies to --publisher kubernetes only")]
    [InlineData("--output-path OUT", "--output-path is a publish option; give --publisher")]
    [InlineData("--publisher manifest --output-path OUT --secrets new", "--secrets applies to --publisher kubernetes only")]
    [InlineData("--publisher kubernetes --output-path OUT --storage-class Fast_SSD", "--storage-class: 'Fast_SSD' is not a storage class name")]
    [InlineData("--publisher kubernetes --output-path OUT --secrets keep", "--secrets: 'keep' is not a choice; use 'reuse'")]
    public async Task Publish_BadOptions_Exit1WithReasonAndWritesNothing(string arguments, string expected)
    {
        var output = Path.Combine(_output.FullName, "out");
        var (code, process) = await using_(await PublishAsync([.. arguments.Split(' ').Select(a => a == "OUT" ? output : a)]));

        Assert.True(code == 1, process.Output);
        Assert.Contains(expected, process.ErrorOutput, StringComparison.Ordinal);
        Assert.False(Path.Exists(output), process.Output);
    }

    [Fact]
    public async Task Kubernetes_OutputPathIsFile_Exit1WithReason()
    {
        var file = Path.Combine(_output.FullName, "not-a-directory");
        await File.WriteAllTextAsync(file, "x", TestContext.Current.CancellationToken);

        var (code, process) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", file));

        Assert.True(code == 1, process.Output);
        Assert.Contains("is a file; Kubernetes manifests are written into a directory", process.ErrorOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kubernetes_PublishAgain_KeepsRootBootstrapKeyAndAdminToken_SoOnlySecretsFileChanges()
    {
        var directory = Path.Combine(_output.FullName, "k8s");
        var (first, firstProcess) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory));
        Assert.True(first == 0, firstProcess.Output + firstProcess.ErrorOutput);
        Assert.Contains("Made a new root CA (sha256 ", firstProcess.Output, StringComparison.Ordinal);
        var before = Snapshot(directory);
        var secretsBefore = Secrets(directory);

        var (second, process) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory));

        Assert.True(second == 0, process.Output + process.ErrorOutput);
        Assert.Equal("", process.ErrorOutput);
        var after = Snapshot(directory);
        var secretsAfter = Secrets(directory);
        // Same root, key and token: no Deployment, ConfigMap or Service changed, so applying it restarts no pod.
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.All(before.Keys.Where(f => f != "secrets.yaml"), f => Assert.True(before[f] == after[f], $"{f} changed"));
        Assert.Equal(Text(secretsBefore["aspiremesh-ca"], "ca.key"), Text(secretsAfter["aspiremesh-ca"], "ca.key"));
        var key = Text(secretsAfter["aspiremesh-bootstrap"], "bootstrap-key");
        Assert.Equal(Text(secretsBefore["aspiremesh-bootstrap"], "bootstrap-key"), key);
        Assert.Equal(Text(secretsBefore["aspiremesh-admin"], "token"), Text(secretsAfter["aspiremesh-admin"], "token"));
        var rootHash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(RootCertificate(directory)))).ToLowerInvariant();
        Assert.Contains($"Kept the root CA (sha256 {rootHash[..16]}, until ", process.Output, StringComparison.Ordinal);
        // Without --storage-class the state volume is of the cluster's default class.
        Assert.DoesNotContain("storageClassName", after["controlplane.yaml"], StringComparison.Ordinal);

        // The credentials are minted again (their 30 days start now), with the kept key.
        var credentials = secretsAfter["aspiremesh-bootstrap"].Children.Keys.Select(Text).Where(k => k != "bootstrap-key").ToList();
        Assert.Equal(["gateway.gateway", "sidecar.catalog", "sidecar.frontend", "sidecar.inventory"], credentials.Order(StringComparer.Ordinal));
        foreach (var entry in credentials)
        {
            Assert.NotEqual(Text(secretsBefore["aspiremesh-bootstrap"], entry), Text(secretsAfter["aspiremesh-bootstrap"], entry));
            Assert.True(BootstrapCredential.TryVerify(key, Text(secretsAfter["aspiremesh-bootstrap"], entry), DateTimeOffset.UtcNow, out _, out var error), $"{entry}: {error}");
        }
    }

    [Fact]
    public async Task Kubernetes_SecretsNew_ReplacesRootBootstrapKeyAndAdminToken()
    {
        var directory = Path.Combine(_output.FullName, "k8s");
        var (first, firstProcess) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory));
        Assert.True(first == 0, firstProcess.Output + firstProcess.ErrorOutput);
        var secretsBefore = Secrets(directory);
        var rootBefore = RootCertificate(directory);

        var (second, process) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory, "--secrets", "new"));

        Assert.True(second == 0, process.Output + process.ErrorOutput);
        var secretsAfter = Secrets(directory);
        Assert.NotEqual(rootBefore, RootCertificate(directory));
        Assert.NotEqual(Text(secretsBefore["aspiremesh-ca"], "ca.key"), Text(secretsAfter["aspiremesh-ca"], "ca.key"));
        Assert.NotEqual(Text(secretsBefore["aspiremesh-bootstrap"], "bootstrap-key"), Text(secretsAfter["aspiremesh-bootstrap"], "bootstrap-key"));
        Assert.NotEqual(Text(secretsBefore["aspiremesh-admin"], "token"), Text(secretsAfter["aspiremesh-admin"], "token"));
        Assert.Contains("applying them restarts every pod", process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Kept the root", process.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("key missing", "secrets.yaml: the Secret 'aspiremesh-ca' has no 'ca.key'")]
    [InlineData("root of another key", "do not make a root CA")]
    [InlineData("root expiring", "before the credentials this publish mints would")]
    [InlineData("not a CA", "is not a CA certificate")]
    [InlineData("no keyCertSign", "its keyUsage lacks keyCertSign")]
    [InlineData("bad bootstrap key", "'bootstrap-key' of the Secret 'aspiremesh-bootstrap' is not base64 of at least 16 bytes")]
    [InlineData("secrets gone", "secrets.yaml is missing beside")]
    [InlineData("secrets unreadable", "secrets.yaml cannot be read")]
    [InlineData("config map gone", "configmap.yaml is missing")]
    public async Task Kubernetes_EarlierSecretsUnusable_Exit1WithReason_LeavesEarlierPublishAsIs(string damage, string expected)
    {
        var directory = Path.Combine(_output.FullName, "k8s");
        var (first, firstProcess) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory));
        Assert.True(first == 0, firstProcess.Output + firstProcess.ErrorOutput);
        var secretsFile = Path.Combine(directory, "secrets.yaml");
        var configMapFile = Path.Combine(directory, "configmap.yaml");
        var root = RootCertificate(directory);
        var rootKey = Text(Secrets(directory)["aspiremesh-ca"], "ca.key");
        using var otherKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        string Certificate(bool ca, TimeSpan lifetime, X509KeyUsageFlags? usage = null)
        {
            var request = new CertificateRequest("CN=other", otherKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(ca, false, 0, true));
            if (usage is { } flags)
            {
                request.CertificateExtensions.Add(new X509KeyUsageExtension(flags, true));
            }

            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.Add(lifetime));
            return certificate.ExportCertificatePem() + "\n";
        }

        switch (damage)
        {
            case "key missing":
                Replace(secretsFile, " ca.key:", " ca.old:");
                break;
            case "root of another key":
                Replace(configMapFile, Quoted(root), Quoted(Certificate(ca: true, TimeSpan.FromDays(3650))));
                break;
            case "root expiring":
                Replace(configMapFile, Quoted(root), Quoted(Certificate(ca: true, TimeSpan.FromDays(10))));
                Replace(secretsFile, Quoted(rootKey), Quoted(otherKey.ExportPkcs8PrivateKeyPem()));
                break;
            case "not a CA":
                Replace(configMapFile, Quoted(root), Quoted(Certificate(ca: false, TimeSpan.FromDays(3650))));
                Replace(secretsFile, Quoted(rootKey), Quoted(otherKey.ExportPkcs8PrivateKeyPem()));
                break;
            case "no keyCertSign":
                Replace(configMapFile, Quoted(root), Quoted(Certificate(ca: true, TimeSpan.FromDays(3650), X509KeyUsageFlags.DigitalSignature)));
                Replace(secretsFile, Quoted(rootKey), Quoted(otherKey.ExportPkcs8PrivateKeyPem()));
                break;
            case "bad bootstrap key":
                Replace(secretsFile, Quoted(Text(Secrets(directory)["aspiremesh-bootstrap"], "bootstrap-key")), Quoted("c2hvcnQ="));
                break;
            case "secrets gone":
                File.Delete(secretsFile);
                break;
            case "secrets unreadable":
                await File.AppendAllTextAsync(secretsFile, "stringData: [unclosed\n", TestContext.Current.CancellationToken);
                break;
            case "config map gone":
                File.Delete(configMapFile);
                break;
        }

        var before = Snapshot(directory);

        var (code, process) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory));

        Assert.True(code == 1, process.Output);
        Assert.Contains("cannot reuse the secrets of the earlier publish", process.ErrorOutput, StringComparison.Ordinal);
        Assert.Contains(expected, process.ErrorOutput, StringComparison.Ordinal);
        Assert.Contains("--secrets new", process.ErrorOutput, StringComparison.Ordinal);
        var after = Snapshot(directory);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.All(before.Keys, f => Assert.True(before[f] == after[f], $"{f} changed"));

        // Asked for, new secrets replace the damaged ones.
        var (again, fresh) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory, "--secrets", "new"));
        Assert.True(again == 0, fresh.Output + fresh.ErrorOutput);
        using var made = X509Certificate2.CreateFromPem(RootCertificate(directory), Text(Secrets(directory)["aspiremesh-ca"], "ca.key"));
        Assert.True(made.HasPrivateKey);
    }

    [Fact]
    public async Task Kubernetes_PublishAgainIntoAnotherNamespace_Exit1_TwoMeshesNeverShareARoot()
    {
        var directory = Path.Combine(_output.FullName, "k8s");
        var (first, firstProcess) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory));
        Assert.True(first == 0, firstProcess.Output + firstProcess.ErrorOutput);
        var before = Snapshot(directory);

        var (code, process) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory, "--namespace", "shop"));

        Assert.True(code == 1, process.Output);
        Assert.Contains("is of a publish without --namespace, this one is into 'shop': two meshes would share a root", process.ErrorOutput, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(directory));
    }

    [Fact]
    public async Task Kubernetes_EarlierSecretsAsBase64Data_AreKept()
    {
        // As `kubectl get secret -o yaml` writes a Secret: base64 under data, not stringData.
        var directory = Path.Combine(_output.FullName, "k8s");
        var (first, firstProcess) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory));
        Assert.True(first == 0, firstProcess.Output + firstProcess.ErrorOutput);
        var rootKey = Text(Secrets(directory)["aspiremesh-ca"], "ca.key");
        var secretsFile = Path.Combine(directory, "secrets.yaml");
        var documents = File.ReadAllText(secretsFile).Split("---\n");
        var ca = Array.FindIndex(documents, d => d.Contains("name: \"aspiremesh-ca\"", StringComparison.Ordinal));
        documents[ca] = documents[ca].Replace("stringData:", "data:", StringComparison.Ordinal)
            .Replace(Quoted(rootKey), Quoted(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(rootKey))), StringComparison.Ordinal);
        File.WriteAllText(secretsFile, string.Join("---\n", documents));
        var rootBefore = RootCertificate(directory);

        var (code, process) = await using_(await PublishAsync("--publisher", "kubernetes", "--output-path", directory));

        Assert.True(code == 0, process.Output + process.ErrorOutput);
        Assert.Contains("Kept the root CA", process.Output, StringComparison.Ordinal);
        Assert.Equal(rootBefore, RootCertificate(directory));
        Assert.Equal(rootKey, Text(Secrets(directory)["aspiremesh-ca"], "ca.key"));
    }

    private static Dictionary<string, string> Snapshot(string directory) =>
        Directory.GetFiles(directory).ToDictionary(f => Path.GetFileName(f), f => File.ReadAllText(f));

    private static Dictionary<string, YamlMappingNode> Secrets(string directory) =>
        Load(Path.Combine(directory, "secrets.yaml")).ToDictionary(o => Text(Map(o, "metadata"), "name"), o => Map(o, "stringData"));

    private static string RootCertificate(string directory) => Text(Map(Load(Path.Combine(directory, "configmap.yaml")).Single(), "data"), "ca.crt");

    /// <summary>A string as the publisher writes it: a JSON string literal.</summary>
    private static string Quoted(string value) =>
        JsonSerializer.Serialize(value, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    private static void Replace(string file, string old, string replacement)
    {
        var text = File.ReadAllText(file);
        Assert.Contains(old, text, StringComparison.Ordinal);
        File.WriteAllText(file, text.Replace(old, replacement, StringComparison.Ordinal));
    }

    // The process has exited by now; disposing it only releases it.
    private static async Task<(int, TestProcess)> using_((int Code, TestProcess Process) result)
    {
        await result.Process.DisposeAsync();
        return result;
    }

    private static string Default(JsonElement parameter) =>
        parameter.GetProperty("inputs").GetProperty("value").GetProperty("default").GetProperty("value").GetString()!;

    private static IEnumerable<YamlMappingNode> Load(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(file);
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode);
    }

    private static YamlMappingNode Pod(YamlMappingNode deployment) => Map(Map(Map(deployment, "spec"), "template"), "spec");

    private static YamlMappingNode Map(YamlNode node, string key) => (YamlMappingNode)((YamlMappingNode)node).Children[new YamlScalarNode(key)];

    private static IEnumerable<YamlMappingNode> Seq(YamlNode node, string key) =>
        ((YamlSequenceNode)((YamlMappingNode)node).Children[new YamlScalarNode(key)]).Children.Select(c => c as YamlMappingNode ?? new YamlMappingNode(new YamlScalarNode("value"), c));

    private static string Text(YamlNode node, string key) => Text(((YamlMappingNode)node).Children[new YamlScalarNode(key)]);

    private static string Text(YamlNode node) => node is YamlMappingNode map && map.Children.Count == 1 && map.Children.ContainsKey(new YamlScalarNode("value"))
        ? Text(map.Children[new YamlScalarNode("value")])
        : ((YamlScalarNode)node).Value!;
}
