using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Security;
using AspireMesh.Hosting.Model;
using Map = AspireMesh.Hosting.Publishing.YamlText.Map;

namespace AspireMesh.Hosting.Publishing;

/// <summary>
/// Writes the topology as Kubernetes YAML: an optional Namespace, the Secrets (bootstrap key and credentials, admin
/// token), a ConfigMap with the mesh config, and a Deployment and a Service for the control plane, every service (the
/// app container beside its sidecar container) and every gateway. Returns the files written.
/// </summary>
internal static class KubernetesManifestWriter
{
    public const string BootstrapSecret = "aspiremesh-bootstrap";
    public const string BootstrapKeyEntry = "bootstrap-key";
    public const string AdminSecret = "aspiremesh-admin";
    public const string AdminTokenEntry = "token";
    public const string ConfigMapName = "aspiremesh-config";
    public const string ConfigEntry = "mesh.json";
    public const string CaSecret = "aspiremesh-ca";
    public const string CaKeyEntry = "ca.key";
    public const string CaCertificateEntry = "ca.crt";
    private const string CaKeyMount = "/etc/aspiremesh-ca";
    public const string SecretsFile = "secrets.yaml";
    public const string ConfigMapFile = "configmap.yaml";
    private const string NameLabel = "app.kubernetes.io/name";
    private const string StateMount = "/var/lib/aspiremesh";
    public const string ControlPlaneStateClaim = "controlplane-state";

    /// <summary>The user .NET's container images run as (<c>app</c>), to whom the state volume is given (<c>fsGroup</c>).</summary>
    private const int ContainerUserId = 1654;

    public static IReadOnlyList<string> Write(PublishedTopology topology, string directory)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        var ns = topology.Options.Namespace;
        void Save(string file, params Map[] documents)
        {
            var path = Path.Combine(directory, file);
            if (file == SecretsFile)
            {
                // Keys and credentials: readable by their owner only (the CA's root key is good for ten years).
                AspireMesh.Contracts.Storage.DurableFile.Write(path, System.Text.Encoding.UTF8.GetBytes(YamlText.Documents(documents)), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            else
            {
                File.WriteAllText(path, YamlText.Documents(documents));
            }

            files.Add(path);
        }

        if (ns is not null)
        {
            Save("namespace.yaml", new Map { { "apiVersion", "v1" }, { "kind", "Namespace" }, { "metadata", new Map { { "name", ns }, { "labels", PartOf() } } } });
        }

        var bootstrap = new Map { { BootstrapKeyEntry, topology.BootstrapKey } };
        foreach (var (key, credential) in topology.Credentials)
        {
            bootstrap.Add(key, credential);
        }

        Save(SecretsFile,
            Object("v1", "Secret", BootstrapSecret, ns, new Map { { "type", "Opaque" }, { "stringData", bootstrap } }),
            Object("v1", "Secret", AdminSecret, ns, new Map { { "type", "Opaque" }, { "stringData", new Map { { AdminTokenEntry, topology.Secrets.AdminToken } } } }),
            Object("v1", "Secret", CaSecret, ns, new Map { { "type", "Opaque" }, { "stringData", new Map { { CaKeyEntry, topology.RootKeyPem } } } }));
        // The CA's root certificate is public: the control plane issues from it, the proxies trust the control plane by it.
        Save(ConfigMapFile, Object("v1", "ConfigMap", ConfigMapName, ns, new Map
        {
            { "data", new Map { { ConfigEntry, topology.MeshConfigJson }, { CaCertificateEntry, topology.RootCertificatePem } } },
        }));

        // Proxies reach the control plane across the pod network: over HTTPS, so that their credentials, tokens and
        // snapshots are not readable on the way.
        var controlPlaneUrl = $"https://{MeshApplication.ControlPlaneName}:{PublishedTopology.ControlPlanePort}";
        Save($"{MeshApplication.ControlPlaneName}.yaml", StateClaim(ns, topology.Options.StorageClass), ControlPlane(topology, ns),
            ClusterService(MeshApplication.ControlPlaneName, ns, [("https", PublishedTopology.ControlPlanePort, PublishedTopology.ControlPlanePort)]));

        foreach (var (service, project) in topology.App.Projects.Zip(topology.Services))
        {
            Save($"{service.Name}.yaml", ServiceDeployment(topology, service, project, ns, controlPlaneUrl),
                ClusterService(service.Name, ns, [("mesh", 80, PublishedTopology.InboundPort), ("mesh-h2c", PublishedTopology.InboundHttp2Port, PublishedTopology.InboundHttp2Port)]));
        }

        foreach (var gateway in topology.App.Gateways)
        {
            var service = ClusterService(gateway.Name, ns, [("http", 80, PublishedTopology.GatewayPort)], type: "LoadBalancer");
            Save($"{gateway.Name}.yaml", GatewayDeployment(topology, gateway, ns, controlPlaneUrl), service);
        }

        var kustomization = new Map
        {
            { "apiVersion", "kustomize.config.k8s.io/v1beta1" },
            { "kind", "Kustomization" },
            { "resources", files.Select(Path.GetFileName).ToList() },
        };
        Save("kustomization.yaml", kustomization);
        return files;
    }

    private static Map ControlPlane(PublishedTopology topology, string? ns)
    {
        var container = new Map
        {
            { "name", MeshApplication.ControlPlaneName },
            { "image", topology.Image(topology.ControlPlane) },
            { "args", new List<string>
                {
                    "--urls", $"https://+:{PublishedTopology.ControlPlanePort}", "--config", $"/etc/aspiremesh/{ConfigEntry}", "--state-dir", $"{StateMount}/controlplane",
                    $"--ControlPlane:CaCertificate=/etc/aspiremesh/{CaCertificateEntry}", $"--ControlPlane:CaKey={CaKeyMount}/{CaKeyEntry}",
                    $"--ControlPlane:ServerNames={string.Join(',', ServerNames(ns))}",
                }
            },
            { "ports", new List<Map> { Port("https", PublishedTopology.ControlPlanePort) } },
            { "env", new List<Map>
                {
                    SecretEnv("ASPIREMESH_ADMIN_TOKEN", AdminSecret, AdminTokenEntry),
                    SecretEnv(BootstrapCredential.KeyEnvironmentVariable, BootstrapSecret, BootstrapKeyEntry),
                }
            },
            { "readinessProbe", new Map { { "httpGet", new Map { { "path", "/health" }, { "port", PublishedTopology.ControlPlanePort }, { "scheme", "HTTPS" } } } } },
            { "volumeMounts", new List<Map> { Mount("config", "/etc/aspiremesh", readOnly: true), Mount("ca", CaKeyMount, readOnly: true), Mount("state", StateMount) } },
        };
        var volumes = new List<Map>
        {
            new() { { "name", "config" }, { "configMap", new Map { { "name", ConfigMapName } } } },
            // Kubernetes' default file mode (0644): the image runs as a user of its own, not root, and this pod has no other container.
            new() { { "name", "ca" }, { "secret", new Map { { "secretName", CaSecret } } } },
            // Kept across restarts of the pod: the config history, revoked credentials, a root rotated in and the one it
            // replaced (certificates issued from either stay trusted for the overlap).
            new() { { "name", "state" }, { "persistentVolumeClaim", new Map { { "claimName", ControlPlaneStateClaim } } } },
        };
        // One replica: the registry and the CA live in this process. Recreate: a new pod mounts the volume only once the old
        // one has let it go (ReadWriteOnce). The volume's files belong to the image's user's group (fsGroup).
        return Deployment(MeshApplication.ControlPlaneName, ns, replicas: 1, [container], volumes, RootAnnotation(topology),
            // rollingUpdate cleared explicitly: kubectl apply over a Deployment an earlier publish wrote (RollingUpdate, the
            // default) would otherwise keep its rollingUpdate and be refused ("may not be specified when strategy type is 'Recreate'").
            strategy: new Map { { "type", "Recreate" }, { "rollingUpdate", YamlText.Null.Value } },
            securityContext: new Map { { "fsGroup", ContainerUserId }, { "fsGroupChangePolicy", "OnRootMismatch" } });
    }

    /// <summary>
    /// The control plane's state volume: small (JSON files and PEM keys), of <paramref name="storageClass"/>, or the
    /// cluster's default class when null.
    /// </summary>
    private static Map StateClaim(string? ns, string? storageClass) =>
        Object("v1", "PersistentVolumeClaim", ControlPlaneStateClaim, ns, new Map
        {
            { "spec", new Map
                {
                    { "accessModes", new List<string> { "ReadWriteOnce" } },
                    { "storageClassName", storageClass },
                    { "resources", new Map { { "requests", new Map { { "storage", "1Gi" } } } } },
                }
            },
        });

    private static Map ServiceDeployment(PublishedTopology topology, ProjectResource service, PublishedProject project, string? ns, string controlPlaneUrl)
    {
        var appEnv = PublishedTopology.AppEnvironment(service).Select(ValueEnv).ToList();
        appEnv.Insert(0, FieldEnv("ASPIREMESH_INSTANCE_ID", "metadata.name"));
        var app = new Map
        {
            { "name", "app" },
            { "image", topology.Image(project) },
            { "env", appEnv },
        };
        var sidecar = new Map
        {
            { "name", "mesh-proxy" },
            { "image", topology.Image(topology.MeshProxy) },
            // Kubernetes expands $(POD_NAME) and $(POD_IP) from the env below: the instance is the pod, reached at its IP.
            { "args", PublishedTopology.SidecarArguments(service.Name, "$(POD_NAME)", "$(POD_IP)", controlPlaneUrl).Concat(["--state-dir", $"{StateMount}/proxy"]).ToList() },
            { "ports", new List<Map> { Port("mesh", PublishedTopology.InboundPort), Port("mesh-h2c", PublishedTopology.InboundHttp2Port), Port("telemetry", PublishedTopology.TelemetryPort) } },
            { "env", (List<Map>)
                [
                    FieldEnv("POD_NAME", "metadata.name"),
                    FieldEnv("POD_IP", "status.podIP"),
                    SecretEnv(BootstrapCredential.EnvironmentVariable, BootstrapSecret, PublishedTopology.SidecarCredentialKey(service.Name)),
                    ControlPlaneRootEnv(),
                    new() { { "name", "OTEL_SERVICE_NAME" }, { "value", service.Name } },
                    .. SidecarRuntime.Environment.Select(ValueEnv),
                ]
            },
            // Ready once it serves a snapshot and every listener listens (plain HTTP on the telemetry port).
            { "startupProbe", StartupProbe() },
            { "readinessProbe", ReadyProbe() },
            { "livenessProbe", LiveProbe() },
            { "volumeMounts", new List<Map> { Mount("state", StateMount) } },
        };
        return Deployment(service.Name, ns, service.Replicas, [app, sidecar], [EmptyDir("state")], ScrapeAnnotations(topology));
    }

    private static Map GatewayDeployment(PublishedTopology topology, GatewayResource gateway, string? ns, string controlPlaneUrl)
    {
        var container = new Map
        {
            { "name", "gateway" },
            { "image", topology.Image(topology.Gateway!) },
            // Kubernetes expands $(POD_IP) from the env below: the control plane reads the gateway's telemetry there.
            { "args", PublishedTopology.GatewayArguments(gateway.Name, "$(POD_IP)", controlPlaneUrl).Concat(["--state-dir", $"{StateMount}/gateway"]).ToList() },
            { "ports", new List<Map> { Port("http", PublishedTopology.GatewayPort), Port("telemetry", PublishedTopology.TelemetryPort) } },
            { "env", new List<Map>
                {
                    FieldEnv("POD_IP", "status.podIP"),
                    SecretEnv(BootstrapCredential.EnvironmentVariable, BootstrapSecret, PublishedTopology.GatewayCredentialKey(gateway.Name)),
                    ControlPlaneRootEnv(),
                    new() { { "name", "OTEL_SERVICE_NAME" }, { "value", gateway.Name } },
                }
            },
            { "startupProbe", StartupProbe() },
            { "readinessProbe", ReadyProbe() },
            { "livenessProbe", LiveProbe() },
            { "volumeMounts", new List<Map> { Mount("state", StateMount) } },
        };
        return Deployment(gateway.Name, ns, replicas: 1, [container], [EmptyDir("state")], ScrapeAnnotations(topology));
    }

    /// <summary>The proxy's /ready on its telemetry port: a snapshot applied and every listener listening (503 with the reasons otherwise).</summary>
    private static Map ReadyProbe() =>
        new() { { "httpGet", new Map { { "path", "/ready" }, { "port", PublishedTopology.TelemetryPort } } }, { "periodSeconds", 5 } };

    /// <summary>
    /// Holds the liveness probe off while the proxy starts: it listens only once it holds its mesh certificate, which waits
    /// for the control plane (up to five minutes here, then the kubelet restarts it).
    /// </summary>
    private static Map StartupProbe() =>
        new() { { "httpGet", new Map { { "path", "/live" }, { "port", PublishedTopology.TelemetryPort } } }, { "periodSeconds", 5 }, { "failureThreshold", 60 } };

    /// <summary>The proxy's /live: its listeners answer at all (not whether it is configured, which readiness says).</summary>
    private static Map LiveProbe() =>
        new() { { "httpGet", new Map { { "path", "/live" }, { "port", PublishedTopology.TelemetryPort } } }, { "periodSeconds", 10 }, { "failureThreshold", 6 } };

    /// <summary>
    /// The hash of the published root on every pod: a publish with a new root (the first, or <c>--secrets new</c>), which
    /// pods read from the ConfigMap only when they start, must restart them all when applied (the control plane, which then issues from the new root,
    /// and every proxy, which is then given it), not leave pods that trust the old root alone.
    /// </summary>
    private static Map RootAnnotation(PublishedTopology topology) => new()
    {
        { RootHashAnnotation, topology.Secrets.RootHash },
    };

    public const string RootHashAnnotation = "aspiremesh.io/ca-sha256";

    /// <summary>
    /// The annotations Prometheus' Kubernetes service discovery is commonly configured to follow (as Istio's pods carry
    /// them), and the root's hash (<see cref="RootAnnotation"/>).
    /// </summary>
    private static Map ScrapeAnnotations(PublishedTopology topology) => new()
    {
        { RootHashAnnotation, (string)RootAnnotation(topology).Single().Value },
        { "prometheus.io/scrape", "true" },
        { "prometheus.io/port", $"{PublishedTopology.TelemetryPort}" },
        { "prometheus.io/path", "/metrics" },
    };

    private static Map Deployment(string name, string? ns, int replicas, List<Map> containers, List<Map> volumes, Map? annotations = null,
        Map? strategy = null, Map? securityContext = null) =>
        Object("apps/v1", "Deployment", name, ns, new Map
        {
            { "spec", new Map
                {
                    { "replicas", replicas },
                    { "strategy", strategy },
                    { "selector", new Map { { "matchLabels", new Map { { NameLabel, name } } } } },
                    { "template", new Map
                        {
                            { "metadata", annotations is null ? new Map { { "labels", Labels(name) } } : new Map { { "labels", Labels(name) }, { "annotations", annotations } } },
                            { "spec", new Map { { "securityContext", securityContext }, { "containers", containers }, { "volumes", volumes } } },
                        }
                    },
                }
            },
        });

    private static Map ClusterService(string name, string? ns, IReadOnlyList<(string Name, int Port, int TargetPort)> ports, string? type = null) =>
        Object("v1", "Service", name, ns, new Map
        {
            { "spec", new Map
                {
                    { "type", type },
                    { "selector", new Map { { NameLabel, name } } },
                    { "ports", ports.Select(p => new Map { { "name", p.Name }, { "port", p.Port }, { "targetPort", p.TargetPort }, { "protocol", "TCP" } }).ToList() },
                }
            },
        });

    private static Map Object(string apiVersion, string kind, string name, string? ns, Map body)
    {
        var metadata = new Map { { "name", name }, { "namespace", ns }, { "labels", kind is "Deployment" or "Service" ? Labels(name) : PartOf() } };
        var map = new Map { { "apiVersion", apiVersion }, { "kind", kind }, { "metadata", metadata } };
        foreach (var (key, value) in body)
        {
            map.Add(key, value);
        }

        return map;
    }

    private static Map Labels(string name) => new() { { NameLabel, name }, { "app.kubernetes.io/part-of", "aspiremesh" } };

    private static Map PartOf() => new() { { "app.kubernetes.io/part-of", "aspiremesh" } };

    private static Map Port(string name, int port) => new() { { "name", name }, { "containerPort", port }, { "protocol", "TCP" } };

    private static Map SecretEnv(string name, string secret, string key) =>
        new() { { "name", name }, { "valueFrom", new Map { { "secretKeyRef", new Map { { "name", secret }, { "key", key } } } } } };

    /// <summary>The mesh's root, which a proxy trusts the control plane's certificate by (PEM text in the variable).</summary>
    private static Map ControlPlaneRootEnv() =>
        new() { { "name", ControlPlaneTrust.EnvironmentVariable }, { "valueFrom", new Map { { "configMapKeyRef", new Map { { "name", ConfigMapName }, { "key", CaCertificateEntry } } } } } };

    /// <summary>The names proxies reach the control plane by: its Service's, short and qualified when the namespace is known.</summary>
    private static IEnumerable<string> ServerNames(string? ns) => ns is null
        ? [MeshApplication.ControlPlaneName]
        : [MeshApplication.ControlPlaneName, $"{MeshApplication.ControlPlaneName}.{ns}", $"{MeshApplication.ControlPlaneName}.{ns}.svc", $"{MeshApplication.ControlPlaneName}.{ns}.svc.cluster.local"];

    private static Map ValueEnv(KeyValuePair<string, string> variable) => new() { { "name", variable.Key }, { "value", variable.Value } };

    private static Map FieldEnv(string name, string fieldPath) =>
        new() { { "name", name }, { "valueFrom", new Map { { "fieldRef", new Map { { "fieldPath", fieldPath } } } } } };

    private static Map Mount(string name, string path, bool readOnly = false) =>
        readOnly ? new() { { "name", name }, { "mountPath", path }, { "readOnly", true } } : new() { { "name", name }, { "mountPath", path } };

    private static Map EmptyDir(string name) => new() { { "name", name }, { "emptyDir", new Map() } };
}
