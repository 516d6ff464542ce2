namespace AspireMesh.TestSupport;

/// <summary>
/// A home folder for a proxy (its <c>HOME</c>) holding a DataProtection key file that cannot be read, where ASP.NET
/// Core's DataProtection keeps its key ring by default: a proxy that loaded the key ring would log the failure, and
/// one that created keys would write a file beside it.
/// </summary>
public sealed class DataProtectionHome : IDisposable
{
    public const string UnreadableKey = "key-unreadable.xml";

    private readonly DirectoryInfo _home;
    private readonly DirectoryInfo _keys;

    private DataProtectionHome(DirectoryInfo home, DirectoryInfo keys)
    {
        _home = home;
        _keys = keys;
    }

    /// <summary>The proxy's environment: <c>HOME</c> set to this folder.</summary>
    public Dictionary<string, string> Environment => new() { ["HOME"] = _home.FullName };

    public static async Task<DataProtectionHome> CreateAsync()
    {
        var home = Directory.CreateTempSubdirectory("aspiremesh-home-");
        var keys = Directory.CreateDirectory(Path.Combine(home.FullName, ".aspnet", "DataProtection-Keys"));
        await File.WriteAllTextAsync(Path.Combine(keys.FullName, UnreadableKey), "<key");
        return new DataProtectionHome(home, keys);
    }

    /// <summary>What the key folder holds: <see cref="UnreadableKey"/> alone unless a key was written.</summary>
    public IEnumerable<string> KeyFiles => _keys.EnumerateFileSystemInfos().Select(file => file.Name);

    /// <summary>Whether a proxy's output mentions DataProtection or its key ring (as a failure to read it would).</summary>
    public static bool Mentioned(string output) =>
        output.Contains("DataProtection", StringComparison.Ordinal) || output.Contains("key ring", StringComparison.OrdinalIgnoreCase);

    public void Dispose() => _home.Delete(recursive: true);
}
