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
        var home = Directory.CreateTempSubdirectory("aspiremesh-home-");
        try
        {
            // A key file DataProtection cannot read: had the sidecar loaded the key ring, it would log the failure.
            var keys = Directory.CreateDirectory(Path.Combine(home.FullName, ".aspnet", "DataProtection-Keys"));
            await File.WriteAllTextAsync(Path.Combine(keys.FullName, "key-unreadable.xml"), "<key", TestContext.Current.CancellationToken);
            await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(DataProtectionTests).Assembly);
            string output;
            await using (var sidecar = await SidecarProcess.StartAsync(controlPlane.Url, "catalog", "catalog-keys", Ports.ClosedUrl(), null,
                new Dictionary<string, string> { ["HOME"] = home.FullName }))
            {
                // A call through the outbound listener, which runs YARP's pipeline (the mesh's error for it, a route or not, is beside the point).
                using var client = sidecar.OutboundClient();
                using var response = await client.GetAsync(new Uri("http://catalog/"), TestContext.Current.CancellationToken);
                output = sidecar.Process.Output + sidecar.Process.ErrorOutput;
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
