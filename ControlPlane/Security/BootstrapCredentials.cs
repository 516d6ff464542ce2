using System.Text;
using System.Text.Json;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Storage;
using AspireMesh.ControlPlane.Storage;

namespace AspireMesh.ControlPlane.Security;

/// <summary>
/// Checks the bootstrap credentials proxies show for their first certificate, and remembers (durably) which were used,
/// so that a credential gets one instance one identity, once: a second use is refused.
/// </summary>
internal sealed class BootstrapCredentials
{
    private const string KeyFile = "bootstrap-key";
    private const string UsedFile = "bootstrap-used.json";
    private readonly Lock _gate = new();
    private readonly StateDirectory _directory;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, BootstrapUse> _used;
    private readonly RevokedCredentials _revoked;

    public BootstrapCredentials(StateDirectory directory, TimeProvider time, string? keyFromEnvironment, RevokedCredentials revoked)
    {
        _directory = directory;
        _time = time;
        _revoked = revoked;
        Key = Resolve(keyFromEnvironment, directory);
        var path = directory.PathOf(UsedFile);
        _used = File.Exists(path)
            ? (JsonSerializer.Deserialize(File.ReadAllBytes(path), ControlPlaneJsonContext.Default.ListBootstrapUse) ?? []).ToDictionary(u => u.Key, StringComparer.Ordinal)
            : new Dictionary<string, BootstrapUse>(StringComparer.Ordinal);
    }

    /// <summary>The HMAC key credentials are signed with (base64).</summary>
    public string Key { get; }

    /// <summary>A new credential for one instance of a workload (or any one instance when <paramref name="instance"/> is null).</summary>
    public string Mint(string kind, string name, string? instance, TimeSpan lifetime) =>
        BootstrapCredential.Mint(Key, kind, name, instance, lifetime, _time);

    /// <summary>
    /// Accepts <paramref name="credential"/> for <paramref name="request"/>'s workload and instance and records its use;
    /// otherwise says why not.
    /// </summary>
    public bool TryRedeem(string? credential, CertificateSigningRequest request, out string error)
    {
        if (!BootstrapCredential.TryVerify(Key, credential, _time.GetUtcNow(), out var claims, out error))
        {
            return false;
        }

        if (_revoked.RevokedAt(claims!.Id) is { } revokedAt)
        {
            error = $"the bootstrap credential {claims!.Id} was revoked at {revokedAt:u}";
            return false;
        }

        if (claims!.Kind != request.Kind || claims.Name != request.Name)
        {
            error = $"the bootstrap credential is for {claims.Kind} '{claims.Name}', not {request.Kind} '{request.Name}'";
            return false;
        }

        if (claims.Instance is not null && claims.Instance != request.Instance)
        {
            error = $"the bootstrap credential is for instance '{claims.Instance}', not '{request.Instance}'";
            return false;
        }

        lock (_gate)
        {
            // A credential bound to one instance is used once; a service-wide one once per instance.
            var key = UseKey(claims.Id, claims.Instance is null ? request.Instance : "");
            if (_used.TryGetValue(key, out var earlier))
            {
                error = $"the bootstrap credential {claims.Id} was already used (by instance '{earlier.Instance}' at {earlier.UsedAt:u}); a credential is good once";
                return false;
            }

            _used[key] = new BootstrapUse(claims.Id, request.Instance, _time.GetUtcNow(), DateTimeOffset.FromUnixTimeSeconds(claims.Expires)) { Key = key };
            // Forget uses of credentials that have expired anyway: they are refused on their expiry alone.
            foreach (var stale in _used.Where(u => u.Value.Expires < _time.GetUtcNow()).Select(u => u.Key).ToList())
            {
                _used.Remove(stale);
            }

            DurableFile.Write(_directory.PathOf(UsedFile), JsonSerializer.SerializeToUtf8Bytes(_used.Values.ToList(), ControlPlaneJsonContext.Default.ListBootstrapUse));
        }

        return true;
    }

    private static string UseKey(string id, string instance) => $"{id}/{instance}";

    private static string Resolve(string? fromEnvironment, StateDirectory directory)
    {
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            var key = fromEnvironment.Trim();
            try
            {
                if (Convert.FromBase64String(key).Length >= 16)
                {
                    return key;
                }
            }
            catch (FormatException)
            {
            }

            throw new InvalidDataException($"{BootstrapCredential.KeyEnvironmentVariable} must be base64 of at least 16 random bytes.");
        }

        var path = directory.PathOf(KeyFile);
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }

        var generated = BootstrapCredential.NewKey();
        DurableFile.Write(path, Encoding.ASCII.GetBytes(generated), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return generated;
    }
}

/// <summary>One redeemed credential: which instance used it and when it would have expired.</summary>
internal sealed record BootstrapUse(string Id, string Instance, DateTimeOffset UsedAt, DateTimeOffset Expires)
{
    /// <summary>What makes a use unique: the credential, and for a service-wide one the instance.</summary>
    public string Key { get; init; } = "";
}
