using System.Text.Json;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Storage;
using AspireMesh.ControlPlane.Storage;

namespace AspireMesh.ControlPlane.Security;

/// <summary>
/// Registration tokens and bootstrap credentials revoked before their expiry (<c>POST /v1/registration-tokens/revoke</c>,
/// <c>POST /v1/bootstrap-credentials/revoke</c>), kept durably by their id until they would have expired anyway, as Consul
/// forgets a deleted ACL token. A proxy whose token is revoked renews its certificate for a new one (it proves its
/// identity with its key); an application needs a newly minted token, a new proxy a new credential.
/// </summary>
internal sealed class RevokedCredentials
{
    private const string File = "revoked-credentials.json";
    private readonly Lock _gate = new();
    private readonly StateDirectory _directory;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, RevokedCredential> _revoked;

    public RevokedCredentials(StateDirectory directory, TimeProvider time)
    {
        _directory = directory;
        _time = time;
        var path = directory.PathOf(File);
        try
        {
            _revoked = System.IO.File.Exists(path)
                ? (JsonSerializer.Deserialize(System.IO.File.ReadAllBytes(path), ControlPlaneJsonContext.Default.ListRevokedCredential) ?? []).ToDictionary(r => r.Id, StringComparer.Ordinal)
                : new Dictionary<string, RevokedCredential>(StringComparer.Ordinal);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"the list of revoked credentials {path} is damaged: {ex.Message}. Restore it from a backup; moving it away would make the revoked credentials good again.", ex);
        }
    }

    /// <summary>When the token or credential <paramref name="id"/> was revoked; null when it was not.</summary>
    public DateTimeOffset? RevokedAt(string id)
    {
        lock (_gate)
        {
            return _revoked.TryGetValue(id, out var revoked) ? revoked.RevokedAt : null;
        }
    }

    /// <summary>Revokes the token or credential <paramref name="claims"/> describes (again: no change); returns the record kept.</summary>
    public RevokedCredential Revoke(CredentialClaims claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_revoked.TryGetValue(claims.Id, out var earlier))
            {
                return earlier;
            }

            var revoked = new RevokedCredential(claims.Id, claims.Kind, claims.Name, claims.Instance, now, DateTimeOffset.FromUnixTimeSeconds(claims.Expires));
            // Forget those a day past their expiry (refused on their expiry alone; the day covers a clock that jumps). The
            // list is written first and kept only once written: a revocation that was not saved is not answered as done.
            var kept = _revoked.Values.Where(r => r.Expires >= now - TimeSpan.FromDays(1)).Append(revoked).ToList();
            DurableFile.Write(_directory.PathOf(File), JsonSerializer.SerializeToUtf8Bytes(kept, ControlPlaneJsonContext.Default.ListRevokedCredential));
            _revoked.Clear();
            foreach (var record in kept)
            {
                _revoked[record.Id] = record;
            }

            return revoked;
        }
    }
}

/// <summary>A revoked registration token or bootstrap credential: whose it was, when it was revoked, and when it would have expired.</summary>
internal sealed record RevokedCredential(string Id, string Kind, string Name, string? Instance, DateTimeOffset RevokedAt, DateTimeOffset Expires);
