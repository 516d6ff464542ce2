using System.Text.RegularExpressions;
using AspireMesh.Contracts.Config;
using Microsoft.Extensions.Configuration;

namespace AspireMesh.Hosting.Publishing;

/// <summary>
/// Publish mode, Aspire's way: <c>--publisher manifest|kubernetes --output-path &lt;path&gt;</c> (configuration section
/// <c>Publishing</c>), plus <c>--namespace</c>, <c>--image-registry</c>, <c>--image-tag</c> and <c>--secrets</c> for Kubernetes.
/// </summary>
public sealed partial record PublishOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Publishing";

    /// <summary>Writes an Aspire manifest (<c>aspire-manifest.json</c>), for azd and aspirate.</summary>
    public const string Manifest = "manifest";

    /// <summary>Writes Kubernetes YAML into a directory.</summary>
    public const string Kubernetes = "kubernetes";

    /// <summary>The publisher: <see cref="Manifest"/> or <see cref="Kubernetes"/>.</summary>
    public required string Publisher { get; init; }

    /// <summary>Where to write: for the manifest a .json file or a directory (then <c>aspire-manifest.json</c> in it); for Kubernetes a directory.</summary>
    public required string OutputPath { get; init; }

    /// <summary>Kubernetes namespace of every object (and a Namespace object); null: the namespace kubectl applies to.</summary>
    public string? Namespace { get; init; }

    /// <summary>Registry prefixed to every image name (e.g. <c>ghcr.io/me</c>); null: none.</summary>
    public string? ImageRegistry { get; init; }

    /// <summary>Tag of every image.</summary>
    public string ImageTag { get; init; } = "latest";

    /// <summary>Keep the root, bootstrap key and admin token of an earlier publish in the output directory (<c>--secrets reuse</c>, the default).</summary>
    public const string ReuseSecrets = "reuse";

    /// <summary>Make new ones (<c>--secrets new</c>): applying them restarts every pod and retires every token.</summary>
    public const string NewSecrets = "new";

    /// <summary>The storage class of the control plane's state volume (<c>--storage-class</c>); null: the cluster's default.</summary>
    public string? StorageClass { get; init; }

    /// <summary><see cref="ReuseSecrets"/> or <see cref="NewSecrets"/> (Kubernetes only).</summary>
    public string Secrets { get; init; } = ReuseSecrets;

    /// <summary>
    /// Reads publish mode from <paramref name="configuration"/>: null when no publisher was asked for (run mode).
    /// Every problem is added to <paramref name="errors"/>, naming the option.
    /// </summary>
    public static PublishOptions? Read(IConfiguration configuration, List<string> errors)
    {
        var section = configuration.GetSection(SectionName);
        var publisher = section["Publisher"];
        // Aspire's CLI asks for the manifest with --operation publish --step publish-manifest.
        if (publisher is null && string.Equals(section["Step"], "publish-manifest", StringComparison.Ordinal))
        {
            publisher = Manifest;
        }

        var kubernetesOnly = new[] { ("Namespace", "--namespace"), ("ImageRegistry", "--image-registry"), ("ImageTag", "--image-tag"), ("Secrets", "--secrets"), ("StorageClass", "--storage-class") };
        if (publisher is null)
        {
            foreach (var (key, option) in kubernetesOnly.Append(("OutputPath", "--output-path")).Where(k => section[k.Item1] is not null))
            {
                errors.Add($"{option} is a publish option; give --publisher manifest or --publisher kubernetes too.");
            }

            if (string.Equals(section["Operation"], "publish", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add("--operation publish needs --publisher manifest or --publisher kubernetes (or --step publish-manifest).");
            }

            return null;
        }

        var start = errors.Count;
        if (publisher is not (Manifest or Kubernetes))
        {
            errors.Add($"--publisher: '{publisher}' is not a publisher; use '{Manifest}' (Aspire manifest, for azd and aspirate) or '{Kubernetes}' (Kubernetes YAML).");
        }

        var output = section["OutputPath"];
        if (string.IsNullOrWhiteSpace(output))
        {
            errors.Add($"--output-path is required with --publisher {publisher} (a .json file or a directory for the manifest, a directory for Kubernetes).");
        }

        if (publisher == Manifest)
        {
            foreach (var (_, option) in kubernetesOnly.Where(k => section[k.Item1] is not null))
            {
                errors.Add($"{option} applies to --publisher kubernetes only (azd and aspirate choose the images of a manifest themselves).");
            }
        }

        var ns = section["Namespace"];
        if (ns is not null && !MeshConfigValidator.IsDnsLabel(ns))
        {
            errors.Add($"--namespace: '{ns}' is not a Kubernetes namespace name (1-63 lower-case letters, digits or '-', starting with a letter).");
        }

        var registry = section["ImageRegistry"];
        if (registry is not null && !RegistryPattern().IsMatch(registry))
        {
            errors.Add($"--image-registry: '{registry}' is not a registry (host[:port][/path], e.g. ghcr.io/me or localhost:5000).");
        }

        var tag = section["ImageTag"];
        if (tag is not null && !TagPattern().IsMatch(tag))
        {
            errors.Add($"--image-tag: '{tag}' is not an image tag (letters, digits, '_', '.', '-'; at most 128, not starting with '.' or '-').");
        }

        var storageClass = section["StorageClass"];
        if (storageClass is not null && !StorageClassPattern().IsMatch(storageClass))
        {
            errors.Add($"--storage-class: '{storageClass}' is not a storage class name (lower-case letters, digits, '-' and '.', at most 253, starting and ending with a letter or digit).");
        }

        var secrets = section["Secrets"];
        if (secrets is not null and not (ReuseSecrets or NewSecrets))
        {
            errors.Add($"--secrets: '{secrets}' is not a choice; use '{ReuseSecrets}' (keep the root CA, bootstrap key and admin token of the earlier publish in --output-path, the default) or '{NewSecrets}' (make new ones: applying them restarts every pod).");
        }

        return errors.Count > start ? null : new PublishOptions
        {
            Publisher = publisher,
            OutputPath = output!,
            Namespace = ns,
            ImageRegistry = registry?.TrimEnd('/'),
            ImageTag = tag ?? "latest",
            Secrets = secrets ?? ReuseSecrets,
            StorageClass = storageClass,
        };
    }

    [GeneratedRegex(@"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*/?$")]
    private static partial Regex RegistryPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z")]
    private static partial Regex TagPattern();

    // A Kubernetes object name (DNS subdomain, RFC 1123).
    [GeneratedRegex(@"^(?=.{1,253}\z)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\z")]
    private static partial Regex StorageClassPattern();
}
