using System.Text.Json;
using AspireMesh.Hosting.Model;

namespace AspireMesh.Hosting.Publishing;

/// <summary>
/// Writes the topology as an Aspire manifest (schema aspire-8.0): a <c>project.v0</c> resource for the control plane,
/// each service, each service's sidecar (<c>&lt;service&gt;-proxy</c>) and each gateway, and <c>parameter.v0</c> secrets
/// for the admin token, the bootstrap key and the bootstrap credentials. Paths are relative to the manifest's folder.
/// </summary>
internal static class AspireManifestWriter
{
    public const string SchemaUrl = "https://json.schemastore.org/aspire-8.0.json";
    public const string AdminTokenParameter = "aspiremesh-admin-token";
    public const string BootstrapKeyParameter = "aspiremesh-bootstrap-key";

    public static void Write(PublishedTopology topology, string manifestPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        Directory.CreateDirectory(directory);
        using var stream = new MemoryStream();
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartObject();
        json.WriteString("$schema", SchemaUrl);
        json.WriteStartObject("resources");
        const string controlPlaneUrl = "{controlplane.bindings.http.url}";

        Project(json, topology.ControlPlane, directory,
            ["--urls", $"http://+:{PublishedTopology.ControlPlanePort}"],
            new Dictionary<string, string>
            {
                ["ASPIREMESH_ADMIN_TOKEN"] = $"{{{AdminTokenParameter}.value}}",
                [AspireMesh.Contracts.Security.BootstrapCredential.KeyEnvironmentVariable] = $"{{{BootstrapKeyParameter}.value}}",
                // No file travels with a manifest resource: the mesh config goes inline.
                ["ControlPlane__Config"] = topology.MeshConfigJson,
            },
            [("http", "http", "http", PublishedTopology.ControlPlanePort, false)]);

        foreach (var (service, project) in topology.App.Projects.Zip(topology.Services))
        {
            Project(json, project, directory, [], PublishedTopology.AppEnvironment(service), [("http", "http", "http", PublishedTopology.AppPort, false)]);
            var proxy = $"{service.Name}-proxy";
            Project(json, topology.MeshProxy with { Name = proxy }, directory,
                PublishedTopology.SidecarArguments(service.Name, instanceId: null, advertiseHost: proxy, controlPlaneUrl),
                new Dictionary<string, string>(SidecarRuntime.Environment)
                {
                    [AspireMesh.Contracts.Security.BootstrapCredential.EnvironmentVariable] = $"{{{proxy}-bootstrap-token.value}}",
                    ["OTEL_SERVICE_NAME"] = service.Name,
                },
                [("http", "http", "http", PublishedTopology.InboundPort, false), ("h2c", "http", "http2", PublishedTopology.InboundHttp2Port, false),
                    ("telemetry", "http", "http", PublishedTopology.TelemetryPort, false)]);
        }

        foreach (var gateway in topology.App.Gateways)
        {
            Project(json, topology.Gateway! with { Name = gateway.Name }, directory,
                PublishedTopology.GatewayArguments(gateway.Name, advertiseHost: gateway.Name, controlPlaneUrl),
                new Dictionary<string, string>
                {
                    [AspireMesh.Contracts.Security.BootstrapCredential.EnvironmentVariable] = $"{{{gateway.Name}-bootstrap-token.value}}",
                    ["OTEL_SERVICE_NAME"] = gateway.Name,
                },
                [("http", "http", "http", PublishedTopology.GatewayPort, true), ("telemetry", "http", "http", PublishedTopology.TelemetryPort, false)]);
        }

        GeneratedSecret(json, AdminTokenParameter);
        Secret(json, BootstrapKeyParameter, topology.BootstrapKey);
        foreach (var service in topology.App.Projects)
        {
            Secret(json, $"{service.Name}-proxy-bootstrap-token", topology.Credentials[PublishedTopology.SidecarCredentialKey(service.Name)]);
        }

        foreach (var gateway in topology.App.Gateways)
        {
            Secret(json, $"{gateway.Name}-bootstrap-token", topology.Credentials[PublishedTopology.GatewayCredentialKey(gateway.Name)]);
        }

        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
        // It carries the bootstrap key and credentials: readable by its owner only from its first byte.
        AspireMesh.Contracts.Storage.DurableFile.Write(manifestPath, stream.ToArray(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private static void Project(Utf8JsonWriter json, PublishedProject project, string manifestDirectory, IReadOnlyList<string> args,
        IReadOnlyDictionary<string, string> env, IReadOnlyList<(string Name, string Scheme, string Transport, int TargetPort, bool External)> bindings)
    {
        json.WriteStartObject(project.Name);
        json.WriteString("type", "project.v0");
        // Aspire writes the project path relative to the manifest's folder, with '/' separators.
        json.WriteString("path", Path.GetRelativePath(manifestDirectory, project.ProjectPath).Replace('\\', '/'));
        if (args.Count > 0)
        {
            json.WriteStartArray("args");
            foreach (var arg in args)
            {
                json.WriteStringValue(arg);
            }

            json.WriteEndArray();
        }

        json.WriteStartObject("env");
        foreach (var (key, value) in env)
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
        json.WriteStartObject("bindings");
        foreach (var binding in bindings)
        {
            json.WriteStartObject(binding.Name);
            json.WriteString("scheme", binding.Scheme);
            json.WriteString("protocol", "tcp");
            json.WriteString("transport", binding.Transport);
            if (binding.External)
            {
                json.WriteBoolean("external", true);
            }

            json.WriteNumber("targetPort", binding.TargetPort);
            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    // A secret the deployment tool generates (nobody but the control plane needs to know it in advance).
    private static void GeneratedSecret(Utf8JsonWriter json, string name) => SecretParameter(json, name, defaults =>
    {
        defaults.WriteStartObject("generate");
        defaults.WriteNumber("minLength", 32);
        defaults.WriteBoolean("special", false);
        defaults.WriteEndObject();
    });

    // A secret minted at publish time (the bootstrap key and the credentials signed with it must agree).
    private static void Secret(Utf8JsonWriter json, string name, string value) =>
        SecretParameter(json, name, defaults => defaults.WriteString("value", value));

    // A parameter.v0 resource holding a secret string, with its default written by writeDefault.
    private static void SecretParameter(Utf8JsonWriter json, string name, Action<Utf8JsonWriter> writeDefault)
    {
        json.WriteStartObject(name);
        json.WriteString("type", "parameter.v0");
        json.WriteString("value", $"{{{name}.inputs.value}}");
        json.WriteStartObject("inputs");
        json.WriteStartObject("value");
        json.WriteString("type", "string");
        json.WriteBoolean("secret", true);
        json.WriteStartObject("default");
        writeDefault(json);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
