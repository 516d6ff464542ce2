using System.Text.RegularExpressions;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// The sidecar published as a Native AOT executable with the repository's own script (build/publish-sidecar-aot.sh),
/// once for the test class that uses it, into a temporary folder removed afterwards.
/// </summary>
public sealed class NativeAotSidecar : IAsyncLifetime
{
    // Compiling the whole data plane to native code takes one to three minutes on two quiet cores, longer beside other tests.
    private static readonly TimeSpan PublishDeadline = TimeSpan.FromMinutes(10);

    private readonly string _output = Directory.CreateTempSubdirectory("aspiremesh-aot-").FullName;

    /// <summary>The native executable.</summary>
    public string Executable => Path.Combine(_output, "AspireMesh.MeshProxy");

    /// <summary>The executable's symbols, which the publish moves to a file of their own beside it.</summary>
    public string Symbols => Executable + ".dbg";

    /// <summary>The .NET the script built it against (net10.0, or net9.0 where .NET 10's Native AOT pack does not restore).</summary>
    public string Framework { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        var script = Path.Combine(BuiltProjects.RepositoryRoot(typeof(NativeAotSidecar).Assembly), "build", "publish-sidecar-aot.sh");
        await using var publish = await TestProcess.StartAsync("publish-sidecar-aot", "bash", [script, _output]);
        var exit = await publish.Exited.WaitAsync(PublishDeadline);
        if (exit != 0 || !File.Exists(Executable))
        {
            throw new InvalidOperationException($"build/publish-sidecar-aot.sh exited with {exit} and did not write {Executable}. Its output:\n{publish.Output}");
        }

        Framework = Regex.Match(publish.Output, @"compiling MeshProxy for (net[0-9.]+)/") is { Success: true } built
            ? built.Groups[1].Value
            : throw new InvalidOperationException($"build/publish-sidecar-aot.sh did not say which .NET it built against. Its output:\n{publish.Output}");
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_output, recursive: true);
        return ValueTask.CompletedTask;
    }
}
