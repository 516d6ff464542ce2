namespace AspireMesh.ControlPlane.Storage;

/// <summary>Where the control plane keeps what must survive a restart: config history, admin token, CA material.</summary>
internal sealed class StateDirectory
{
    public StateDirectory(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>The default: a per-user folder.</summary>
    public static string DefaultPath =>
        System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "aspiremesh", "controlplane");

    public string PathOf(string name) => System.IO.Path.Combine(Path, name);
}
