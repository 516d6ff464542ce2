using System.Net.Http.Json;
using AspireMesh.Contracts.Registry;
using AspireMesh.Contracts.Security;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// A sidecar registers, heartbeats, reports and deregisters with the registration token its certificate came with, from
/// where the control plane needs one (<c>OpenOnLoopback=false</c> makes loopback count as remote).
/// </summary>
public sealed class RegistrationTokenTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <param name="kept">
    /// What the restarted sidecar finds beside its kept certificate: no token (kept by a build before tokens), one the
    /// control plane no longer accepts (signed with a bootstrap key since rotated), its own token revoked by an operator
    /// meanwhile, or one for another instance (kept from a run under another id, as a gateway's id changes with each run).
    /// </param>
    [Theory]
    [InlineData("none")]
    [InlineData("refused")]
    [InlineData("revoked")]
    [InlineData("another-instance")]
    public async Task RestartedWithAKeptCertificateAndNoGoodToken_RenewsForOne_AndRegistersAgain(string kept)
    {
        await using var app = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RegistrationTokenTests).Assembly, null, "--ControlPlane:OpenOnLoopback=false");
        var state = Directory.CreateTempSubdirectory("aspiremesh-proxy-").FullName;
        var tokenFile = Path.Combine(state, "identity", "registration.token");
        try
        {
            await using (var first = await SidecarProcess.StartAsync(controlPlane.Url, "catalog", "catalog-1", app.Url, state))
            {
                // Healthy in the registry, and its report of the snapshot it serves taken.
                await controlPlane.WaitUntilRoutableAsync("catalog-1", ["catalog-1"], Deadline);
                Assert.StartsWith("amr1.", await File.ReadAllTextAsync(tokenFile, Cancel), StringComparison.Ordinal);
            }

            string? revokedId = null;

            // Its deregistration carried the token too: it left the registry at once.
            Assert.Null(await controlPlane.HealthOfAsync("catalog-1"));
            if (kept == "none")
            {
                File.Delete(tokenFile);
            }
            else if (kept == "revoked")
            {
                revokedId = RegistrationToken.ReadUnverified(await File.ReadAllTextAsync(tokenFile, Cancel))!.Id;
                using var revoked = await controlPlane.Admin.PostAsJsonAsync("v1/registration-tokens/revoke",
                    new RegistrationTokenRevocation(await File.ReadAllTextAsync(tokenFile, Cancel)), AspireMesh.Contracts.MeshJsonContext.Default.RegistrationTokenRevocation, Cancel);
                revoked.EnsureSuccessStatusCode();
            }
            else
            {
                var key = kept == "refused" ? BootstrapCredential.NewKey() : ControlPlaneProcess.BootstrapKey;
                var instance = kept == "refused" ? "catalog-1" : "catalog-0";
                await File.WriteAllTextAsync(tokenFile, RegistrationToken.Mint(key, "sidecar", "catalog", instance, DateTimeOffset.UtcNow.AddHours(1)), Cancel);
            }

            // No bootstrap credential this time: the kept certificate is its identity, and proves it for a new token.
            await using var restarted = await SidecarProcess.StartAsync(controlPlane.Url, "catalog", "catalog-1", app.Url, state,
                new Dictionary<string, string> { [BootstrapCredential.EnvironmentVariable] = "" });
            await controlPlane.WaitUntilRoutableAsync("catalog-1", ["catalog-1"], Deadline);

            await restarted.Process.WaitForLineAsync("kept in the state directory", Deadline);
            await controlPlane.Process.WaitForLineAsync(@"Issued spiffe://cluster\.local/ns/default/sa/catalog to catalog-1 \(renewal\)", Deadline);
            if (kept == "revoked")
            {
                await restarted.Process.WaitForLineAsync(@"The control plane refused this proxy's registration token \(401\); renewing the certificate for a new one", Deadline);
                await controlPlane.Process.WaitForLineAsync(@"Refused \w+ /v1/\S+ from 127\.0\.0\.1: the registration token \w+ was revoked at", Deadline);
            }

            if (kept == "refused")
            {
                await restarted.Process.WaitForLineAsync(@"The control plane refused this proxy's registration token \(401\); renewing the certificate for a new one", Deadline);
                await controlPlane.Process.WaitForLineAsync(@"Refused \w+ /v1/\S+ from 127\.0\.0\.1: the registration token was not issued for this mesh", Deadline);
            }

            Assert.True(RegistrationToken.TryVerify(ControlPlaneProcess.BootstrapKey, await File.ReadAllTextAsync(tokenFile, Cancel), DateTimeOffset.UtcNow, out var claims, out var error), error);
            Assert.Equal(("sidecar", "catalog", "catalog-1"), (claims!.Kind, claims.Name, claims.Instance));
            Assert.NotEqual(revokedId, claims.Id);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
