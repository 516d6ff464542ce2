using System.Text.Json;
using AspireMesh.Hosting.Model;

namespace AspireMesh.Hosting.Tests.Publishing;

/// <summary>What the projects' container images (SDK container publishing) are built with, read from MSBuild itself.</summary>
public sealed class ContainerImageTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task SidecarImage_CarriesTheSidecarRuntimeEnvironment()
    {
        var project = Path.Combine(BuiltProjects.RepositoryRoot(typeof(ContainerImageTests).Assembly), "MeshProxy", "MeshProxy.csproj");
        await using var msbuild = await TestProcess.StartAsync("msbuild", "dotnet", ["msbuild", project, "-getItem:ContainerEnvironmentVariable", "-nologo"]);
        var code = await msbuild.Exited.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.True(code == 0, msbuild.Output);

        using var items = JsonDocument.Parse(msbuild.Output[msbuild.Output.IndexOf('{', StringComparison.Ordinal)..]);
        var image = items.RootElement.GetProperty("Items").GetProperty("ContainerEnvironmentVariable").EnumerateArray()
            .ToDictionary(item => item.GetProperty("Identity").GetString()!, item => item.GetProperty("Value").GetString());
        Assert.NotEmpty(SidecarRuntime.Environment);
        foreach (var (name, value) in SidecarRuntime.Environment)
        {
            Assert.True(image.TryGetValue(name, out var imageValue) && imageValue == value,
                $"the sidecar's image sets {name}={(imageValue ?? "(nothing)")}, the AppHost and the manifests {value}");
        }
    }
}
