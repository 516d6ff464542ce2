using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Security;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AspireMesh.Hosting.Publishing;

/// <summary>
/// What a published mesh keeps across publishes: the CA's root (certificate and key), the key bootstrap credentials are
/// signed with, and the admin token. The credentials themselves are minted anew by every publish (they expire).
/// Re-publishing into a directory that holds an earlier Kubernetes publish keeps these, so that applying it changes only
/// what the topology changed: a new root would restart every pod (<c>aspiremesh.io/ca-sha256</c>), a new bootstrap key
/// would retire every registration token, and a new admin token would lock operators out.
/// </summary>
internal sealed record PublishedSecrets(string RootCertificatePem, string RootKeyPem, string BootstrapKey, string AdminToken)
{
    /// <summary>New ones, for a first publish or <c>--secrets new</c>.</summary>
    public static PublishedSecrets New(TimeProvider time)
    {
        using var root = MeshRootCertificate.Create(SpiffeId.DefaultTrustDomain, time.GetUtcNow());
        return new PublishedSecrets(root.ExportCertificatePem() + "\n", MeshRootCertificate.ExportKeyPem(root), BootstrapCredential.NewKey(),
            Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant());
    }

    /// <summary>The root certificate's SHA-256 (lower-case hex of its PEM text): what pod templates carry, and what a user compares.</summary>
    public string RootHash => Convert.ToHexString(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(RootCertificatePem))).ToLowerInvariant();

    /// <summary>When the root expires.</summary>
    public DateTimeOffset RootExpires
    {
        get
        {
            using var certificate = X509Certificate2.CreateFromPem(RootCertificatePem);
            return certificate.NotAfter.ToUniversalTime();
        }
    }

    /// <summary>
    /// The secrets of the Kubernetes publish in <paramref name="directory"/>: null when there is none (no
    /// <paramref name="secretsFile"/>). Throws <see cref="InvalidDataException"/> naming the file and what is wrong when
    /// there is one that cannot be reused: unreadable, an entry missing, a key that is not the certificate's, a root that
    /// is no CA or expires before credentials minted now would.
    /// </summary>
    public static PublishedSecrets? ReadEarlier(string directory, string secretsFile, string configMapFile, string? kubernetesNamespace, TimeProvider time, TimeSpan credentialLifetime)
    {
        var secretsPath = Path.Combine(directory, secretsFile);
        var configPath = Path.Combine(directory, configMapFile);
        if (!File.Exists(secretsPath))
        {
            // The root's certificate without its key: making a new root here would restart every pod unasked.
            return File.Exists(configPath)
                ? throw new InvalidDataException($"{secretsPath} is missing beside {configPath} of an earlier publish: it holds the root's key, the bootstrap key and the admin token (keep the whole folder between publishes)")
                : null;
        }

        var secrets = ReadEntries(secretsPath, "Secret");
        if (!File.Exists(configPath))
        {
            throw new InvalidDataException($"{configPath} is missing: it holds the root certificate ({KubernetesManifestWriter.CaCertificateEntry}) of the earlier publish whose {secretsFile} is beside it");
        }

        var config = ReadEntries(configPath, "ConfigMap");
        string Entry(Dictionary<string, Entries> objects, string path, string kind, string name, string key) =>
            objects.TryGetValue(name, out var entries) && entries.Values.TryGetValue(key, out var value) && !string.IsNullOrWhiteSpace(value)
                ? value
                : throw new InvalidDataException($"{path}: the {kind} '{name}' has no '{key}'");

        // Secrets of a mesh in another namespace: reusing them would make the two meshes trust each other's workloads.
        if (secrets.TryGetValue(KubernetesManifestWriter.CaSecret, out var caSecret) && caSecret.Namespace != kubernetesNamespace)
        {
            throw new InvalidDataException(
                $"{secretsPath} is of a publish {(caSecret.Namespace is null ? "without --namespace" : $"into namespace '{caSecret.Namespace}'")}, this one is {(kubernetesNamespace is null ? "without --namespace" : $"into '{kubernetesNamespace}'")}: two meshes would share a root and trust each other's workloads");
        }

        var certificatePem = Entry(config, configPath, "ConfigMap", KubernetesManifestWriter.ConfigMapName, KubernetesManifestWriter.CaCertificateEntry);
        var keyPem = Entry(secrets, secretsPath, "Secret", KubernetesManifestWriter.CaSecret, KubernetesManifestWriter.CaKeyEntry);
        var bootstrapKey = Entry(secrets, secretsPath, "Secret", KubernetesManifestWriter.BootstrapSecret, KubernetesManifestWriter.BootstrapKeyEntry).Trim();
        var adminToken = Entry(secrets, secretsPath, "Secret", KubernetesManifestWriter.AdminSecret, KubernetesManifestWriter.AdminTokenEntry).Trim();

        try
        {
            if (Convert.FromBase64String(bootstrapKey).Length < 16)
            {
                throw new FormatException();
            }
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"{secretsPath}: '{KubernetesManifestWriter.BootstrapKeyEntry}' of the Secret '{KubernetesManifestWriter.BootstrapSecret}' is not base64 of at least 16 bytes");
        }

        X509Certificate2 root;
        try
        {
            root = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new InvalidDataException(
                $"the root certificate ('{KubernetesManifestWriter.CaCertificateEntry}' in {configPath}) and its key ('{KubernetesManifestWriter.CaKeyEntry}' in {secretsPath}) do not make a root CA: {(ex is ArgumentException ? "the key is not the certificate's" : ex.Message)}");
        }

        using (root)
        {
            if (MeshRootCertificate.Unusable(root) is { } problem)
            {
                throw new InvalidDataException($"{configPath}: '{KubernetesManifestWriter.CaCertificateEntry}' cannot be the mesh's root: {problem}");
            }

            var needed = time.GetUtcNow().Add(credentialLifetime);
            if (root.NotAfter.ToUniversalTime() < needed)
            {
                throw new InvalidDataException(
                    $"{configPath}: the root ({root.Subject}) expires {root.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC, before the credentials this publish mints would ({needed:yyyy-MM-dd})");
            }
        }

        // The certificate as written (one PEM block, one final newline), so that an unchanged root hashes as before.
        return new PublishedSecrets(certificatePem.TrimEnd() + "\n", keyPem, bootstrapKey, adminToken);
    }

    /// <summary>An object's namespace and string entries.</summary>
    private sealed record Entries(string? Namespace, Dictionary<string, string> Values);

    /// <summary>
    /// The string entries of every object of <paramref name="kind"/> in a YAML file, by the object's name: <c>data</c>
    /// (base64 in a Secret) and <c>stringData</c> (which wins, as Kubernetes merges them).
    /// </summary>
    private static Dictionary<string, Entries> ReadEntries(string path, string kind)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (Exception ex) when (ex is YamlException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path} cannot be read: {ex.Message}");
        }

        var objects = new Dictionary<string, Entries>(StringComparer.Ordinal);
        foreach (var document in stream.Documents)
        {
            if (document.RootNode is not YamlMappingNode root || Scalar(root, "kind") != kind
                || Child(root, "metadata") is not YamlMappingNode metadata || Scalar(metadata, "name") is not { } name)
            {
                continue;
            }

            var entries = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var section in kind == "Secret" ? ["data", "stringData"] : new[] { "data" })
            {
                if (Child(root, section) is not YamlMappingNode data)
                {
                    continue;
                }

                foreach (var (key, value) in data.Children)
                {
                    if (key is YamlScalarNode { Value: { } k } && value is YamlScalarNode { Value: { } v })
                    {
                        entries[k] = kind == "Secret" && section == "data" ? Base64(v, path, name, k) : v;
                    }
                }
            }

            objects[name] = new Entries(Scalar(metadata, "namespace"), entries);
        }

        return objects;
    }

    private static string Base64(string value, string path, string secret, string key)
    {
        try
        {
            return System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(value));
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"{path}: '{key}' in the data of the Secret '{secret}' is not base64");
        }
    }

    private static YamlNode? Child(YamlMappingNode node, string key) => node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    private static string? Scalar(YamlMappingNode node, string key) => (Child(node, key) as YamlScalarNode)?.Value;
}
