using System.Security.Cryptography;
using System.Text;
using AspireMesh.Contracts.Storage;
using AspireMesh.ControlPlane.Storage;

namespace AspireMesh.ControlPlane.Security;

/// <summary>
/// The credential admin writes need: <c>ASPIREMESH_ADMIN_TOKEN</c> when set, else a token generated on first start,
/// stored in the state directory (readable by its owner only) and shown to the user that once.
/// </summary>
internal sealed class AdminToken
{
    public const string EnvironmentVariable = "ASPIREMESH_ADMIN_TOKEN";
    private const string FileName = "admin-token";
    private readonly byte[] _value;

    private AdminToken(string value) => _value = Encoding.UTF8.GetBytes(value);

    public static AdminToken Resolve(string? fromEnvironment, StateDirectory directory, TextWriter announce)
    {
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return new AdminToken(fromEnvironment.Trim());
        }

        var path = directory.PathOf(FileName);
        if (File.Exists(path))
        {
            return new AdminToken(File.ReadAllText(path).Trim());
        }

        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        DurableFile.Write(path, Encoding.UTF8.GetBytes(token), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        announce.WriteLine($"Admin token (shown once; kept in {path}): {token}");
        announce.WriteLine($"  Send it as 'Authorization: Bearer <token>' to change the config, or set {EnvironmentVariable} to choose your own.");
        return new AdminToken(token);
    }

    /// <summary>Whether <paramref name="authorization"/> is <c>Bearer &lt;token&gt;</c> with this token (constant-time).</summary>
    public bool Accepts(string? authorization)
    {
        const string Scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = Encoding.UTF8.GetBytes(authorization[Scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(given, _value);
    }
}
