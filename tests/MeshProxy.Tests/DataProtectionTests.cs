namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// YARP brings ASP.NET Core's DataProtection (for session-affinity cookies, which mesh routes never set); a sidecar
/// neither reads nor writes its key files under the user's home.
/// </summary>
public sealed class DataProtectionTests
{
    [Fact]
    public async Task Start_ReadsAndWritesNoKeyFilesUnderHome()
    {
        using var home = await DataProtectionHome.CreateAsync();
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DataProtectionTests).Assembly);
        TestProcess process;
        await using (var sidecar = await SidecarProcess.StartAsync(controlPlane.Url, "catalog", "catalog-keys", Ports.ClosedUrl(), null, home.Environment))
        {
            // A call through the outbound listener, which runs YARP's pipeline (the mesh's error for it, a route or not, is beside the point).
            using var client = sidecar.OutboundClient();
            using var response = await client.GetAsync(new Uri("http://catalog/"), TestContext.Current.CancellationToken);
            process = sidecar.Process;
        }

        // Read once the process has stopped and its output is drained: a warning still on its way counts too.
        var output = process.Output + process.ErrorOutput;

        Assert.False(DataProtectionHome.Mentioned(output), output);
        Assert.Equal([DataProtectionHome.UnreadableKey], home.KeyFiles);
    }
}
