using AspireMesh.Hosting.Model;
using AspireMesh.Hosting.Orchestration;

namespace AspireMesh.Hosting.Publishing;

/// <summary>
/// Publish mode: writes the topology (an Aspire manifest or Kubernetes YAML) and starts nothing. Progress and the files
/// written go to standard output; a problem goes to standard error with exit code 1 (aspirate fails on any stderr output).
/// </summary>
internal static class MeshPublisher
{
    public static int Publish(MeshApplication app, PublishOptions options, MeshConsole console, TimeProvider time)
    {
        // Relative paths are relative to the working directory, which `dotnet run` sets to the AppHost's folder.
        var output = Path.GetFullPath(options.OutputPath);
        PublishedTopology topology;
        string secretsNote;
        try
        {
            (var secrets, secretsNote) = Secrets(options, output, time);
            topology = new PublishedTopology(app, options, secrets, time);
        }
        catch (TopologyException ex)
        {
            console.Error($"error: {ex.Message}");
            return 1;
        }
        catch (InvalidDataException ex)
        {
            // Nothing is written: the earlier publish stays as it was.
            console.Error($"error: cannot reuse the secrets of the earlier publish: {ex.Message.TrimEnd('.')}. Mend it, or give --secrets {PublishOptions.NewSecrets} to make new ones (applying them restarts every pod).");
            return 1;
        }

        try
        {
            if (options.Publisher == PublishOptions.Manifest)
            {
                // Aspire's rule: a path not ending in .json is a directory that gets aspire-manifest.json.
                var manifest = output.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? output : Path.Combine(output, "aspire-manifest.json");
                if (Directory.Exists(manifest))
                {
                    console.Error($"error: --output-path: '{manifest}' is a directory; give a .json file or a directory to hold aspire-manifest.json.");
                    return 1;
                }

                console.Info($"AspireMesh: publishing an Aspire manifest of {Count(app)} resources");
                AspireManifestWriter.Write(topology, manifest);
                console.Info($"Published manifest to: {manifest}");
                return 0;
            }

            if (File.Exists(output))
            {
                console.Error($"error: --output-path: '{output}' is a file; Kubernetes manifests are written into a directory.");
                return 1;
            }

            console.Info($"AspireMesh: publishing Kubernetes manifests of {Count(app)} resources{(options.Namespace is null ? "" : $" into namespace '{options.Namespace}'")}");
            var files = KubernetesManifestWriter.Write(topology, output);
            foreach (var file in files)
            {
                console.Info($"  wrote {file}");
            }

            console.Info(secretsNote);
            console.Info($"Published Kubernetes manifests to: {output} (apply with: kubectl apply -k {output})");
            console.Info($"The bootstrap credentials in {KubernetesManifestWriter.BootstrapSecret} can be redeemed for {PublishedTopology.CredentialLifetime.TotalDays:0} days; publish again to mint new ones.");
            return 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            console.Error($"error: cannot write to --output-path '{output}': {ex.Message}");
            return 1;
        }
    }

    /// <summary>
    /// The root CA, bootstrap key and admin token: those of the Kubernetes publish already in <paramref name="output"/>
    /// unless new ones are asked for, so that applying a publish again changes only what the topology changed.
    /// </summary>
    private static (PublishedSecrets Secrets, string Note) Secrets(PublishOptions options, string output, TimeProvider time)
    {
        if (options.Publisher != PublishOptions.Kubernetes)
        {
            return (PublishedSecrets.New(time), "");
        }

        var earlier = options.Secrets == PublishOptions.ReuseSecrets && Directory.Exists(output)
            ? PublishedSecrets.ReadEarlier(output, KubernetesManifestWriter.SecretsFile, KubernetesManifestWriter.ConfigMapFile, options.Namespace, time, PublishedTopology.CredentialLifetime)
            : null;
        if (earlier is not null)
        {
            return (earlier, $"Kept the root CA (sha256 {earlier.RootHash[..16]}, until {earlier.RootExpires:yyyy-MM-dd}), bootstrap key and admin token of the earlier publish: "
                + $"running pods keep them, and credentials minted before stay valid until they expire (--secrets {PublishOptions.NewSecrets} makes new ones)");
        }

        var made = PublishedSecrets.New(time);
        return (made, options.Secrets == PublishOptions.NewSecrets && File.Exists(Path.Combine(output, KubernetesManifestWriter.SecretsFile))
            ? $"Made a new root CA (sha256 {made.RootHash[..16]}), bootstrap key and admin token, replacing the earlier ones: applying them restarts every pod, and registration tokens minted before stop working"
            : $"Made a new root CA (sha256 {made.RootHash[..16]}), bootstrap key and admin token");
    }

    private static int Count(MeshApplication app) => 1 + app.Projects.Count * 2 + app.Gateways.Count;
}
