using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Security;

namespace AspireMesh.ControlPlane.Tests.Security;

/// <summary>The control plane's CA over its real HTTP API: issuance, bootstrap credentials, renewal, persistence.</summary>
public sealed class CertificateAuthorityTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static (ECDsa Key, string Csr) NewCsr(string name)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return (key, new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem());
    }

    private static async Task<HttpResponseMessage> RequestAsync(ControlPlaneProcess controlPlane, CertificateSigningRequest request, string? credential)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/certificates") { Content = JsonContent.Create(request, MeshJsonContext.Default.CertificateSigningRequest) };
        if (credential is not null)
        {
            message.Headers.TryAddWithoutValidation("Authorization", $"Bootstrap {credential}");
        }

        return await controlPlane.Http.SendAsync(message, Cancel);
    }

    private static async Task<string> DetailAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.MeshProblem, Cancel))!.Detail ?? "";

    [Fact]
    public async Task Issue_WithBootstrapCredential_SpiffeUriSanChainToRootAndConfiguredLifetime()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CertificateAuthorityTests).Assembly, null,
            "--ControlPlane:CertificateLifetime=00:30:00", "--ControlPlane:TrustDomain=shop.example");
        var (key, csr) = NewCsr("catalog");
        using (key)
        {
            var issued = await controlPlane.Client.RequestCertificateAsync(new CertificateSigningRequest("sidecar", "catalog", "catalog-1", csr),
                ControlPlaneProcess.Credential("sidecar", "catalog", "catalog-1"), Cancel);

            using var certificate = X509Certificate2.CreateFromPem(issued.CertificateChain);
            Assert.True(SpiffeId.TryFrom(certificate, out var id));
            Assert.Equal("spiffe://shop.example/ns/default/sa/catalog", id.ToString());
            Assert.Equal(issued.SpiffeId, id.ToString());
            Assert.InRange(certificate.NotAfter.ToUniversalTime() - DateTime.UtcNow, TimeSpan.FromMinutes(28), TimeSpan.FromMinutes(31));
            Assert.Equal(key.ExportSubjectPublicKeyInfo(), certificate.PublicKey.ExportSubjectPublicKeyInfo());
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            var roots = new X509Certificate2Collection();
            roots.ImportFromPem(issued.TrustBundle);
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            Assert.True(chain.Build(certificate), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
            Assert.Contains(certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>(), o => o.Value == "1.3.6.1.5.5.7.3.2");
        }
    }

    [Fact]
    public async Task Issue_CredentialUsedTwice_SecondRefusedAndLogged()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CertificateAuthorityTests).Assembly);
        var credential = ControlPlaneProcess.Credential("sidecar", "catalog", "catalog-1");
        var (key, csr) = NewCsr("catalog");
        using (key)
        {
            using var first = await RequestAsync(controlPlane, new CertificateSigningRequest("sidecar", "catalog", "catalog-1", csr), credential);
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);

            using var second = await RequestAsync(controlPlane, new CertificateSigningRequest("sidecar", "catalog", "catalog-1", csr), credential);

            Assert.Equal(HttpStatusCode.Forbidden, second.StatusCode);
            Assert.Contains("was already used (by instance 'catalog-1'", await DetailAsync(second), StringComparison.Ordinal);
            await Eventually.UntilAsync(() => Task.FromResult(controlPlane.Process.Output.Contains("Refused a certificate for sidecar catalog (instance catalog-1)", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(10), "the refusal to be logged");
        }
    }

    [Fact]
    public async Task Issue_RevokedServiceWideCredential_RefusedToTheNextInstance_RevokingNeedsTheAdminToken()
    {
        // A service-wide credential (as a published topology hands every pod of a service) leaked: revoke it.
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CertificateAuthorityTests).Assembly, null, "--ControlPlane:OpenOnLoopback=false");
        var credential = ControlPlaneProcess.Credential("sidecar", "catalog", null);
        var (key, csr) = NewCsr("catalog");
        using (key)
        {
            using var first = await RequestAsync(controlPlane, new CertificateSigningRequest("sidecar", "catalog", "catalog-1", csr), credential);
            using var withoutAdmin = await controlPlane.Http.PostAsJsonAsync("v1/bootstrap-credentials/revoke", new BootstrapCredentialRevocation(credential),
                MeshJsonContext.Default.BootstrapCredentialRevocation, Cancel);
            using var revoked = await controlPlane.Admin.PostAsJsonAsync("v1/bootstrap-credentials/revoke", new BootstrapCredentialRevocation(credential),
                MeshJsonContext.Default.BootstrapCredentialRevocation, Cancel);
            using var notOne = await controlPlane.Admin.PostAsJsonAsync("v1/bootstrap-credentials/revoke", new BootstrapCredentialRevocation("amr1.x.y"),
                MeshJsonContext.Default.BootstrapCredentialRevocation, Cancel);
            using var next = await RequestAsync(controlPlane, new CertificateSigningRequest("sidecar", "catalog", "catalog-2", csr), credential);

            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, withoutAdmin.StatusCode);
            Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
            var record = (await revoked.Content.ReadFromJsonAsync(MeshJsonContext.Default.CredentialRevoked, Cancel))!;
            Assert.Equal(("sidecar", "catalog"), (record.Kind, record.Name));
            Assert.Equal(HttpStatusCode.BadRequest, notOne.StatusCode);
            Assert.Contains("credential: the bootstrap credential is not in the form amb1.", await DetailAsync(notOne), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.Forbidden, next.StatusCode);
            Assert.Contains($"the bootstrap credential {record.Id} was revoked at", await DetailAsync(next), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Issue_UnknownMissingOrMismatchedCredential_Refused()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CertificateAuthorityTests).Assembly);
        var (key, csr) = NewCsr("catalog");
        using (key)
        {
            var request = new CertificateSigningRequest("sidecar", "catalog", "catalog-1", csr);
            var foreign = BootstrapCredential.Mint(BootstrapCredential.NewKey(), "sidecar", "catalog", "catalog-1", TimeSpan.FromHours(1));

            using var unknown = await RequestAsync(controlPlane, request, foreign);
            using var missing = await RequestAsync(controlPlane, request, null);
            using var otherService = await RequestAsync(controlPlane, request, ControlPlaneProcess.Credential("sidecar", "payments", "catalog-1"));
            using var otherInstance = await RequestAsync(controlPlane, request, ControlPlaneProcess.Credential("sidecar", "catalog", "catalog-2"));

            Assert.Equal(HttpStatusCode.Forbidden, unknown.StatusCode);
            Assert.Contains("not issued for this mesh", await DetailAsync(unknown), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
            Assert.StartsWith("Bootstrap", missing.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
            Assert.Contains("no bootstrap credential was given", await DetailAsync(missing), StringComparison.Ordinal);
            Assert.Contains("is for sidecar 'payments'", await DetailAsync(otherService), StringComparison.Ordinal);
            Assert.Contains("is for instance 'catalog-2'", await DetailAsync(otherInstance), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Renew_ProofWithCurrentKey_Issued_WrongProofOrOtherIdentityRefused()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CertificateAuthorityTests).Assembly);
        var (key, csr) = NewCsr("catalog");
        using (key)
        {
            var first = await controlPlane.Client.RequestCertificateAsync(new CertificateSigningRequest("sidecar", "catalog", "catalog-1", csr),
                ControlPlaneProcess.Credential("sidecar", "catalog", "catalog-1"), Cancel);
            var (nextKey, nextCsr) = NewCsr("catalog");
            using (nextKey)
            {
                var renewal = new CertificateSigningRequest("sidecar", "catalog", "catalog-1", nextCsr)
                {
                    CurrentCertificate = first.CertificateChain,
                    Proof = Convert.ToBase64String(key.SignData(Encoding.UTF8.GetBytes(nextCsr), HashAlgorithmName.SHA256)),
                };

                var renewed = await controlPlane.Client.RequestCertificateAsync(renewal, null, Cancel);
                using var wrongProof = await RequestAsync(controlPlane, renewal with { Proof = Convert.ToBase64String(nextKey.SignData(Encoding.UTF8.GetBytes(nextCsr), HashAlgorithmName.SHA256)) }, null);
                using var otherIdentity = await RequestAsync(controlPlane, renewal with { Name = "payments" }, null);

                using var certificate = X509Certificate2.CreateFromPem(renewed.CertificateChain);
                Assert.Equal(nextKey.ExportSubjectPublicKeyInfo(), certificate.PublicKey.ExportSubjectPublicKeyInfo());
                Assert.Equal(HttpStatusCode.Forbidden, wrongProof.StatusCode);
                Assert.Contains("proof is not a signature", await DetailAsync(wrongProof), StringComparison.Ordinal);
                Assert.Equal(HttpStatusCode.Forbidden, otherIdentity.StatusCode);
                Assert.Contains("not spiffe://cluster.local/ns/default/sa/payments", await DetailAsync(otherIdentity), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Root_GeneratedOnFirstStart_KeptPrivatelyAndReusedAfterRestart()
    {
        var state = Directory.CreateTempSubdirectory("aspiremesh-ca-").FullName;
        try
        {
            string first;
            await using (var controlPlane = await ControlPlaneProcess.StartWithStateAsync(typeof(CertificateAuthorityTests).Assembly, null, state, null))
            {
                first = (await controlPlane.Http.GetFromJsonAsync("v1/ca", MeshJsonContext.Default.CertificateAuthorityInfo, Cancel))!.Roots.Single().Thumbprint;
            }

            var keyFile = Path.Combine(state, "ca", $"{first}.key.pem");
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
            }

            await using (var restarted = await ControlPlaneProcess.StartWithStateAsync(typeof(CertificateAuthorityTests).Assembly, null, state, null))
            {
                var info = (await restarted.Http.GetFromJsonAsync("v1/ca", MeshJsonContext.Default.CertificateAuthorityInfo, Cancel))!;
                Assert.Equal(first, info.Roots.Single().Thumbprint);
            }
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task Root_UserSupplied_CertificatesAreIssuedFromIt()
    {
        var folder = Directory.CreateTempSubdirectory("aspiremesh-userca-").FullName;
        try
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=Company Mesh Root", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
            using var root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(2));
            await File.WriteAllTextAsync(Path.Combine(folder, "root.pem"), root.ExportCertificatePem(), Cancel);
            await File.WriteAllTextAsync(Path.Combine(folder, "root.key"), key.ExportPkcs8PrivateKeyPem(), Cancel);
            await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CertificateAuthorityTests).Assembly, null,
                $"--ControlPlane:CaCertificate={Path.Combine(folder, "root.pem")}", $"--ControlPlane:CaKey={Path.Combine(folder, "root.key")}");
            var (leafKey, csr) = NewCsr("catalog");
            using (leafKey)
            {
                var issued = await controlPlane.Client.RequestCertificateAsync(new CertificateSigningRequest("sidecar", "catalog", "catalog-1", csr),
                    ControlPlaneProcess.Credential("sidecar", "catalog", "catalog-1"), Cancel);

                using var leaf = X509Certificate2.CreateFromPem(issued.CertificateChain);
                Assert.Equal("CN=Company Mesh Root", leaf.Issuer);
                Assert.Contains(root.ExportCertificatePem().Trim(), issued.TrustBundle, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Admin_RotateAndMintWithoutToken_401()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CertificateAuthorityTests).Assembly);

        using var rotate = await controlPlane.Http.PostAsync("v1/ca/rotate", null, Cancel);
        using var mint = await controlPlane.Http.PostAsJsonAsync("v1/bootstrap-credentials", new BootstrapCredentialRequest("sidecar", "catalog"), MeshJsonContext.Default.BootstrapCredentialRequest, Cancel);
        using var minted = await controlPlane.Admin.PostAsJsonAsync("v1/bootstrap-credentials", new BootstrapCredentialRequest("sidecar", "catalog"), MeshJsonContext.Default.BootstrapCredentialRequest, Cancel);

        Assert.Equal(HttpStatusCode.Unauthorized, rotate.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, mint.StatusCode);
        var grant = (await minted.Content.ReadFromJsonAsync(MeshJsonContext.Default.BootstrapCredentialGrant, Cancel))!;
        Assert.True(BootstrapCredential.TryVerify(ControlPlaneProcess.BootstrapKey, grant.Credential, DateTimeOffset.UtcNow, out var claims, out var error), error);
        Assert.Equal(("sidecar", "catalog", (string?)null), (claims!.Kind, claims.Name, claims.Instance));
    }

    [Theory]
    [InlineData("x/../../../../ns/aspiremesh-system/sa/controlplane")]
    [InlineData("x/%2e%2e/%2e%2e/%2e%2e/%2e%2e/ns/default/sa/catalog")]
    [InlineData("Catalog")]
    public async Task Issue_NameNotADnsLabel_400_NoIdentityOfAnotherWorkloadOrTheControlPlane(string name)
    {
        // A name is a path segment of the SPIFFE ID: with '/' and '..' it could name any identity, the control plane's too.
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(CertificateAuthorityTests).Assembly);
        using var minted = await controlPlane.Admin.PostAsJsonAsync("v1/bootstrap-credentials", new BootstrapCredentialRequest("sidecar", name),
            MeshJsonContext.Default.BootstrapCredentialRequest, Cancel);
        var (key, csr) = NewCsr("x");
        using (key)
        {
            // A credential signed for that name with the bootstrap key itself (as a leaked key could sign one) is refused too.
            using var issued = await RequestAsync(controlPlane, new CertificateSigningRequest("sidecar", name, "x-1", csr), ControlPlaneProcess.Credential("sidecar", name, "x-1"));

            Assert.Equal((HttpStatusCode.BadRequest, HttpStatusCode.BadRequest), (minted.StatusCode, issued.StatusCode));
            var expected = $"name: '{name}' is not a service or gateway name (1-63 lower-case letters";
            Assert.Contains(expected, await DetailAsync(minted), StringComparison.Ordinal);
            Assert.Contains(expected, await DetailAsync(issued), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Mesh.Local")]
    [InlineData("mesh.local:8443")]
    public async Task TrustDomain_NotALowerCaseName_RefusedAtStartNamingIt(string trustDomain)
    {
        var state = Directory.CreateTempSubdirectory("aspiremesh-cp-").FullName;
        try
        {
            await using var process = await TestProcess.StartDotnetAsync("controlplane", BuiltProjects.Assembly(typeof(CertificateAuthorityTests).Assembly, "ControlPlane.csproj"),
                ["--urls", $"http://127.0.0.1:{Ports.FreeBelowEphemeral()}", "--state-dir", state, $"--ControlPlane:TrustDomain={trustDomain}"]);

            Assert.Equal(2, await process.Exited.WaitAsync(TimeSpan.FromSeconds(60), Cancel));
            Assert.Contains($"ControlPlane:TrustDomain '{trustDomain}' is not a valid trust domain (a lower-case DNS-like name", process.Output + process.ErrorOutput, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
