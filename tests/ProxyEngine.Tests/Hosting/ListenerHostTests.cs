using AspireMesh.ProxyEngine.Hosting;
using Microsoft.Extensions.Configuration;

namespace AspireMesh.ProxyEngine.Tests.Hosting;

public sealed class ListenerHostTests
{
    [Fact]
    public void Listener_ReadsItsSettingsFilesOnce_WithoutWatchingThem()
    {
        var builder = ListenerHost.CreateBuilder("http://127.0.0.1:0");

        var files = builder.Configuration.Sources.OfType<FileConfigurationSource>().ToList();
        // appsettings.json and appsettings.{environment}.json are still read, when present.
        Assert.Contains(files, f => f.Path == "appsettings.json");
        Assert.All(files, f => Assert.False(f.ReloadOnChange, $"{f.Path} is watched for changes"));
    }
}
