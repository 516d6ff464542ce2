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
        using var home = await DataProtectionHome.CreateAsync();
        TestProcess process;
        await using (var gateway = await GatewayProcess.StartAsync(Config, environment: home.Environment))
        {
            // A request through YARP's pipeline (a route with no instance: the mesh's 503 is beside the point).
            using var response = await gateway.Client.GetAsync(new Uri("/", UriKind.Relative), TestContext.Current.CancellationToken);
            process = gateway.Process;
        }

        // Read once the process has stopped and its output is drained: a warning still on its way counts too.
        var output = process.Output + process.ErrorOutput;

        Assert.False(DataProtectionHome.Mentioned(output), output);
        Assert.Equal([DataProtectionHome.UnreadableKey], home.KeyFiles);
    }
}
