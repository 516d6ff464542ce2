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
    public static PublishedSecrets? ReadEarlier(string directory, string secretsFile, string configMapFile, TimeProvider time, TimeSpan credentialLifetime)
    {
        var secretsPath = Path.Combine(directory, secretsFile);
        if (!File.Exists(secretsPath))
        {
            return null;
        }

        var secrets = ReadEntries(secretsPath, "Secret", "stringData");
        var configPath = Path.Combine(directory, configMapFile);
        if (!File.Exists(configPath))
        {
            throw new InvalidDataException($"{configPath} is missing: it holds the root certificate ({KubernetesManifestWriter.CaCertificateEntry}) of the earlier publish whose {secretsFile} is beside it.");
        }

        var config = ReadEntries(configPath, "ConfigMap", "data");
        string Entry(Dictionary<string, Dictionary<string, string>> objects, string path, string kind, string name, string key) =>
            objects.TryGetValue(name, out var entries) && entries.TryGetValue(key, out var value) && !string.IsNullOrWhiteSpace(value)
                ? value
                : throw new InvalidDataException($"{path}: the {kind} '{name}' has no '{key}'.");

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
            throw new InvalidDataException($"{secretsPath}: '{KubernetesManifestWriter.BootstrapKeyEntry}' of the Secret '{KubernetesManifestWriter.BootstrapSecret}' is not base64 of at least 16 bytes.");
        }

        X509Certificate2 root;
        try
        {
            root = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new InvalidDataException(
                $"the root certificate ('{KubernetesManifestWriter.CaCertificateEntry}' in {configPath}) and its key ('{KubernetesManifestWriter.CaKeyEntry}' in {secretsPath}) do not make a root CA: {ex.Message}");
        }

        using (root)
        {
            if (root.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
            {
                throw new InvalidDataException($"{configPath}: '{KubernetesManifestWriter.CaCertificateEntry}' ({root.Subject}) is not a CA certificate.");
            }

            var needed = time.GetUtcNow().Add(credentialLifetime);
            if (root.NotAfter.ToUniversalTime() < needed)
            {
                throw new InvalidDataException(
                    $"{configPath}: the root ({root.Subject}) expires {root.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC, before the credentials this publish mints would ({needed:yyyy-MM-dd}).");
            }
        }

        // The certificate as written (one PEM block, one final newline), so that an unchanged root hashes as before.
        return new PublishedSecrets(certificatePem.TrimEnd() + "\n", keyPem, bootstrapKey, adminToken);
    }

    /// <summary>The string entries (<paramref name="section"/>) of every object of <paramref name="kind"/> in a YAML file, by the object's name.</summary>
    private static Dictionary<string, Dictionary<string, string>> ReadEntries(string path, string kind, string section)
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

        var objects = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var document in stream.Documents)
        {
            if (document.RootNode is not YamlMappingNode root || Scalar(root, "kind") != kind
                || Child(root, "metadata") is not YamlMappingNode metadata || Scalar(metadata, "name") is not { } name)
            {
                continue;
            }

            var entries = new Dictionary<string, string>(StringComparer.Ordinal);
            if (Child(root, section) is YamlMappingNode data)
            {
                foreach (var (key, value) in data.Children)
                {
                    if (key is YamlScalarNode { Value: { } k } && value is YamlScalarNode { Value: { } v })
                    {
                        entries[k] = v;
                    }
                }
            }

            objects[name] = entries;
        }

        return objects;
    }

    private static YamlNode? Child(YamlMappingNode node, string key) => node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    private static string? Scalar(YamlMappingNode node, string key) => (Child(node, key) as YamlScalarNode)?.Value;
}
