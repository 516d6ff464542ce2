using System.Net.Http.Json;
using AspireMesh.Contracts.Client;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// A sidecar talks to the control plane over HTTPS, trusting its certificate by the mesh's root it was given
/// (<see cref="ControlPlaneTrust.EnvironmentVariable"/>) and then by the trust bundle it holds.
/// </summary>
public sealed class ControlPlaneTlsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OverHttps_GivenTheMeshRoot_GetsItsIdentityAndRegisters_AndFollowsARootRotation()
    {
        await using var app = await TestBackend.StartAsync("catalog-app");
        var state = Directory.CreateTempSubdirectory("aspiremesh-cp-").FullName;
        var (port, httpsPort) = Ports.TwoFreeBelowEphemeral();
        try
        {
            // A one-second overlap: the previous root leaves the bundle (and stops serving) a second after the rotation.
            string[] arguments = ["--ControlPlane:RootOverlap=00:00:01"];
            var controlPlane = await ControlPlaneProcess.StartWithHttpsAsync(typeof(ControlPlaneTlsTests).Assembly, state, port, httpsPort, arguments);
            SidecarProcess sidecar;
            try
            {
                var firstRoot = await controlPlane.TrustBundleAsync();
                sidecar = await SidecarProcess.StartAsync(controlPlane.HttpsUrl!, "catalog", "catalog-1", app.Url, null,
                    new Dictionary<string, string> { [ControlPlaneTrust.EnvironmentVariable] = firstRoot });
                await controlPlane.WaitUntilRoutableAsync("catalog-1", ["catalog-1"], Deadline);
                await controlPlane.Process.WaitForLineAsync(@"Issued spiffe://cluster\.local/ns/default/sa/catalog to catalog-1 \(bootstrap", Deadline);

                var firstThumbprint = (await controlPlane.Admin.GetFromJsonAsync("v1/ca", AspireMesh.Contracts.MeshJsonContext.Default.CertificateAuthorityInfo, Cancel))!.Roots[0].Thumbprint;
                using var rotated = await controlPlane.Admin.PostAsync(new Uri("v1/ca/rotate", UriKind.Relative), null, Cancel);
                rotated.EnsureSuccessStatusCode();
                await sidecar.Process.WaitForLineAsync(@"Trust bundle updated: 2 root\(s\)", Deadline);
                await controlPlane.Process.WaitForLineAsync($"Root {firstThumbprint} retired", Deadline);
            }
            finally
            {
                await controlPlane.DisposeAsync();
            }

            await using (sidecar)
            {
                // Restarted on the same state and ports: its certificate comes from the new root alone (the first one has
                // retired), which the sidecar was not given but holds in its bundle. It connects again, re-registers and watches.
                await using var restarted = await ControlPlaneProcess.StartWithHttpsAsync(typeof(ControlPlaneTlsTests).Assembly, state, port, httpsPort, arguments);
                var newRoot = (await restarted.Admin.GetFromJsonAsync("v1/ca", AspireMesh.Contracts.MeshJsonContext.Default.CertificateAuthorityInfo, Cancel))!.Roots.Single().Thumbprint;
                var issued = await restarted.Process.WaitForLineAsync(@"HTTPS certificate of the control plane issued for .* by root (\w+)", Deadline);
                Assert.Equal(newRoot, issued.Groups[1].Value);
                await restarted.WaitUntilRoutableAsync("catalog-1", ["catalog-1"], Deadline);
            }
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task OverHttps_WithoutTheMeshRoot_SendsNothing_AndSaysWhatToGive()
    {
        await using var controlPlane = await ControlPlaneProcess.StartWithHttpsAsync(typeof(ControlPlaneTlsTests).Assembly);
        var state = Directory.CreateTempSubdirectory("aspiremesh-proxy-").FullName;
        try
        {
            await using var sidecar = await TestProcess.StartDotnetAsync("catalog-1", SidecarProcess.Assembly,
                ["--service", "catalog", "--instance-id", "catalog-1", "--app-url", "http://127.0.0.1:1/", "--control-plane", controlPlane.HttpsUrl!.ToString(), "--state-dir", state],
                ControlPlaneProcess.SidecarEnvironment("catalog", "catalog-1"));

            await sidecar.WaitForLineAsync(@"Could not get a workload certificate \(attempt 1, .*the control plane's certificate \(.*\) is not trusted: it is not issued by a CA of this system's store, and no mesh root was given\. Give the mesh's root in ASPIREMESH_CONTROL_PLANE_CA", Deadline);

            // Its bootstrap credential never reached the control plane, nor did anything else: read once both have
            // stopped, so that a late line counts.
            // Stopped while it waits for a certificate, it exits at once, saying so.
            Assert.Equal(0, await sidecar.StopAsync(TimeSpan.FromSeconds(20)).WaitAsync(Deadline, Cancel));
            Assert.Contains("Stopped (SIGTERM) before a workload certificate was obtained", sidecar.Output, StringComparison.Ordinal);
            Assert.Equal(0, await controlPlane.Process.StopAsync(TimeSpan.FromSeconds(20)).WaitAsync(Deadline, Cancel));
            Assert.DoesNotContain("Issued spiffe", controlPlane.Process.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("listening: inbound", sidecar.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task ControlPlaneRootUnreadable_RefusedAtStart_NamingTheVariable()
    {
        var state = Directory.CreateTempSubdirectory("aspiremesh-proxy-").FullName;
        try
        {
            await using var sidecar = await TestProcess.StartDotnetAsync("catalog-1", SidecarProcess.Assembly,
                ["--service", "catalog", "--instance-id", "catalog-1", "--app-url", "http://127.0.0.1:1/", "--control-plane", "https://127.0.0.1:1/", "--state-dir", state],
                new Dictionary<string, string> { [ControlPlaneTrust.EnvironmentVariable] = Path.Combine(state, "missing.pem") });

            Assert.Equal(2, await sidecar.Exited.WaitAsync(Deadline, Cancel));
            Assert.Contains("error: ASPIREMESH_CONTROL_PLANE_CA is neither PEM text nor a readable file", sidecar.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
