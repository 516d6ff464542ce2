using AspireMesh.Contracts.Config;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// YARP brings ASP.NET Core's DataProtection (for session-affinity cookies, which mesh routes never set); the Gateway
/// neither reads nor writes its key files under the user's home.
/// </summary>
public sealed class DataProtectionTests
{
    private static readonly MeshConfig Config = new()
    {
        Services = [new() { Name = "home" }],
        Routes = [new() { Name = "home", ParentRefs = [new() { Name = "edge" }], Rules = [new() { BackendRefs = [new() { Name = "home" }] }] }],
    };

    [Fact]
    public async Task Start_ReadsAndWritesNoKeyFilesUnderHome()
    {
        var home = Directory.CreateTempSubdirectory("aspiremesh-home-");
        try
        {
            // A key file DataProtection cannot read: had the Gateway loaded the key ring, it would log the failure.
            var keys = Directory.CreateDirectory(Path.Combine(home.FullName, ".aspnet", "DataProtection-Keys"));
            await File.WriteAllTextAsync(Path.Combine(keys.FullName, "key-unreadable.xml"), "<key", TestContext.Current.CancellationToken);
            string output;
            await using (var gateway = await GatewayProcess.StartAsync(Config, environment: new Dictionary<string, string> { ["HOME"] = home.FullName }))
            {
                // A request through YARP's pipeline (a route with no instance: the mesh's 503 is beside the point).
                using var response = await gateway.Client.GetAsync(new Uri("/", UriKind.Relative), TestContext.Current.CancellationToken);
                output = gateway.Process.Output + gateway.Process.ErrorOutput;
            }

            Assert.DoesNotContain("DataProtection", output, StringComparison.Ordinal);
            Assert.DoesNotContain("key ring", output, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(["key-unreadable.xml"], keys.EnumerateFileSystemInfos().Select(file => file.Name));
        }
        finally
        {
            home.Delete(recursive: true);
        }
    }
}
