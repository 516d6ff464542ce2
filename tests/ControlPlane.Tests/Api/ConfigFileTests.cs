using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using AspireMesh.Contracts;

namespace AspireMesh.ControlPlane.Tests.Api;

/// <summary>
/// The mesh config file (<c>--config</c>) applied again when it changes, laid out as the kubelet mounts a ConfigMap: the
/// file is a symlink through <c>..data</c>, a symlink to a folder of the current content, which an update swaps atomically.
/// </summary>
public sealed class ConfigFileTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly DirectoryInfo _mount = Directory.CreateTempSubdirectory("aspiremesh-configmap-");
    private int _generation;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private string ConfigPath => Path.Combine(_mount.FullName, "mesh.yaml");

    public void Dispose() => _mount.Delete(recursive: true);

    [Fact]
    public async Task ConfigFile_UpdatedAsAConfigMapIs_AppliedLive_AnInvalidOneRefusedWhileTheLastGoodServes_AnApiVersionServesUntilTheFileChanges()
    {
        await PublishAsync("services:\n  - name: catalog\n");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConfigFileTests).Assembly, null,
            "--config", ConfigPath, "--ControlPlane:ConfigPollInterval=00:00:00.100");
        Assert.Equal((1L, "catalog"), await ServingAsync(controlPlane));

        await PublishAsync("services:\n  - name: catalog\n  - name: inventory\n");
        await Eventually.UntilAsync(async () => (await ServingAsync(controlPlane)).Version == 2, Deadline, "the updated file to be applied as version 2");
        Assert.Equal((2L, "catalog,inventory"), await ServingAsync(controlPlane));
        var versions = await controlPlane.Http.GetStringAsync("v1/config/versions", Cancel);
        Assert.Contains($"file:{ConfigPath}", versions, StringComparison.Ordinal);

        // A misspelt key: refused whole, with its path, once; version 2 keeps serving.
        await PublishAsync("services:\n  - name: catalog\n    timout: 5s\n");
        await controlPlane.Process.WaitForLineAsync(@"services\[0\]\.timout", Deadline);
        Assert.Contains($"The mesh config file {ConfigPath} changed but is invalid; config version 2 keeps serving", controlPlane.Process.Output, StringComparison.Ordinal);
        Assert.Equal((2L, "catalog,inventory"), await ServingAsync(controlPlane));

        // A version written through the API serves until the file changes again, even back to content applied before.
        using (var put = await controlPlane.Admin.PutAsync("v1/config", new StringContent("services:\n  - name: catalog\n  - name: orders\n", Encoding.UTF8, "application/yaml"), Cancel))
        {
            put.EnsureSuccessStatusCode();
        }

        Assert.Equal((3L, "catalog,orders"), await ServingAsync(controlPlane));
        await PublishAsync("services:\n  - name: catalog\n  - name: inventory\n");
        await Eventually.UntilAsync(async () => (await ServingAsync(controlPlane)).Version == 4, Deadline, "the file, changed back, to be applied as version 4");
        Assert.Equal((4L, "catalog,inventory"), await ServingAsync(controlPlane));
        Assert.Single(Lines(controlPlane.Process.Output, "changed but is invalid"));
    }

    [Fact]
    public async Task ConfigFile_Removed_SaidOnceAndTheLastGoodServes()
    {
        await PublishAsync("services:\n  - name: catalog\n");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConfigFileTests).Assembly, null,
            "--config", ConfigPath, "--ControlPlane:ConfigPollInterval=00:00:00.100");

        File.Delete(ConfigPath);
        await controlPlane.Process.WaitForLineAsync("cannot be read", Deadline);
        Assert.Contains($"The mesh config file {ConfigPath} cannot be read", controlPlane.Process.Output, StringComparison.Ordinal);
        Assert.Equal((1L, "catalog"), await ServingAsync(controlPlane));

        // Back with new content: applied; the missing file was said once, not every poll.
        File.CreateSymbolicLink(ConfigPath, Path.Combine("..data", "mesh.yaml"));
        await PublishAsync("services:\n  - name: inventory\n");
        await Eventually.UntilAsync(async () => (await ServingAsync(controlPlane)).Version == 2, Deadline, "the file to be applied again once back");
        Assert.Single(Lines(controlPlane.Process.Output, "cannot be read"));
    }

    /// <summary>Writes <paramref name="yaml"/> as the kubelet updates a ConfigMap volume: a new folder, then one rename of <c>..data</c>.</summary>
    private async Task PublishAsync(string yaml)
    {
        var folder = $"..gen_{++_generation}";
        Directory.CreateDirectory(Path.Combine(_mount.FullName, folder));
        await File.WriteAllTextAsync(Path.Combine(_mount.FullName, folder, "mesh.yaml"), yaml, Cancel);
        var next = Path.Combine(_mount.FullName, "..data_tmp");
        File.CreateSymbolicLink(next, folder);
        // rename(2) over the old link, as the kubelet does: readers see the old content or the new, never neither.
        using var move = Process.Start(new ProcessStartInfo("mv", ["-T", next, Path.Combine(_mount.FullName, "..data")]))!;
        await move.WaitForExitAsync(Cancel);
        Assert.Equal(0, move.ExitCode);
        if (!File.Exists(ConfigPath) && _generation == 1)
        {
            File.CreateSymbolicLink(ConfigPath, Path.Combine("..data", "mesh.yaml"));
        }
    }

    private static async Task<(long Version, string Services)> ServingAsync(ControlPlaneProcess controlPlane)
    {
        using var response = await controlPlane.Http.GetAsync("v1/config", Cancel);
        var config = await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.MeshConfig, Cancel);
        return (long.Parse(response.Headers.ETag!.Tag.Trim('"'), System.Globalization.CultureInfo.InvariantCulture), string.Join(",", config!.Services.Select(s => s.Name)));
    }

    private static string[] Lines(string output, string containing) =>
        [.. output.Split('\n').Where(l => l.Contains(containing, StringComparison.Ordinal))];
}
