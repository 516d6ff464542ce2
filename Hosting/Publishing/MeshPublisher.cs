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
        PublishedTopology topology;
        try
        {
            topology = new PublishedTopology(app, options, time);
        }
        catch (TopologyException ex)
        {
            console.Error($"error: {ex.Message}");
            return 1;
        }

        // Relative paths are relative to the working directory, which `dotnet run` sets to the AppHost's folder.
        var output = Path.GetFullPath(options.OutputPath);
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

    private static int Count(MeshApplication app) => 1 + app.Projects.Count * 2 + app.Gateways.Count;
}
