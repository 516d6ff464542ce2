using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using AspireMesh.Contracts;

namespace AspireMesh.ControlPlane.Tests.Security;

/// <summary>The certificate the control plane's HTTPS listener presents, read off a real TLS handshake.</summary>
public sealed class ServerCertificateTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Https_PresentsACertificateOfTheMeshRootForItsNames_FromThePreviousRootWhileItStaysTrusted()
    {
        await using var controlPlane = await ControlPlaneProcess.StartWithHttpsAsync(typeof(ServerCertificateTests).Assembly, null, null, null,
            "--ControlPlane:ServerNames=cp.example, 10.9.8.7");
        var first = (await controlPlane.Admin.GetFromJsonAsync("v1/ca", MeshJsonContext.Default.CertificateAuthorityInfo, Cancel))!.Roots.Single();
        using var firstRoot = X509Certificate2.CreateFromPem(first.Pem);

        using var presented = await HandshakeAsync(controlPlane.HttpsUrl!);

        Assert.True(Chains(presented, firstRoot), "the certificate does not chain to the mesh's root");
        var names = presented.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Superset(new HashSet<string>(["localhost", "cp.example"]), names.EnumerateDnsNames().ToHashSet());
        Assert.Superset(new HashSet<IPAddress>([IPAddress.Loopback, IPAddress.IPv6Loopback, IPAddress.Parse("10.9.8.7")]), names.EnumerateIPAddresses().ToHashSet());
        Assert.Contains("1.3.6.1.5.5.7.3.1", presented.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value));

        // A rotation with the default overlap (two days): proxies may not have the new bundle yet, so the certificate
        // keeps coming from the root they all hold.
        using var rotated = await controlPlane.Admin.PostAsync(new Uri("v1/ca/rotate", UriKind.Relative), null, Cancel);
        rotated.EnsureSuccessStatusCode();
        using var afterRotation = await HandshakeAsync(controlPlane.HttpsUrl!);
        Assert.True(Chains(afterRotation, firstRoot), "after the rotation the certificate no longer comes from the root every proxy holds");
    }

    [Fact]
    public async Task Https_SuppliedRootReplacedOnTheSameState_ServedFromTheNewRootAtOnce()
    {
        // A topology published again makes a new root: its new pods are given only that one to trust, while the control
        // plane's state (a kept volume) still holds the old root, now retiring.
        var folder = Directory.CreateTempSubdirectory("aspiremesh-roots-").FullName;
        var state = Directory.CreateTempSubdirectory("aspiremesh-cp-").FullName;
        try
        {
            using var first = AspireMesh.Contracts.Security.MeshRootCertificate.Create("cluster.local", DateTimeOffset.UtcNow);
            using var second = AspireMesh.Contracts.Security.MeshRootCertificate.Create("cluster.local", DateTimeOffset.UtcNow);
            string[] Supplied(X509Certificate2 root, string name)
            {
                File.WriteAllText(Path.Combine(folder, $"{name}.crt"), root.ExportCertificatePem());
                File.WriteAllText(Path.Combine(folder, $"{name}.key"), AspireMesh.Contracts.Security.MeshRootCertificate.ExportKeyPem(root));
                return [$"--ControlPlane:CaCertificate={Path.Combine(folder, $"{name}.crt")}", $"--ControlPlane:CaKey={Path.Combine(folder, $"{name}.key")}"];
            }

            await using (var before = await ControlPlaneProcess.StartWithHttpsAsync(typeof(ServerCertificateTests).Assembly, state, null, null, Supplied(first, "first")))
            {
                using var presented = await HandshakeAsync(before.HttpsUrl!);
                Assert.True(Chains(presented, first), "the certificate does not come from the supplied root");
            }

            await using var after = await ControlPlaneProcess.StartWithHttpsAsync(typeof(ServerCertificateTests).Assembly, state, null, null, Supplied(second, "second"));
            using var afterRestart = await HandshakeAsync(after.HttpsUrl!);
            Assert.True(Chains(afterRestart, second), "after the root was replaced the certificate still comes from the root new clients are not given");
            var roots = (await after.Admin.GetFromJsonAsync("v1/ca", MeshJsonContext.Default.CertificateAuthorityInfo, Cancel))!.Roots;
            Assert.Equal(2, roots.Count); // the first stays trusted for the overlap: what it issued keeps working
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task ServerNames_NotAHostName_RefusedAtStartNamingIt()
    {
        var state = Directory.CreateTempSubdirectory("aspiremesh-cp-").FullName;
        try
        {
            await using var process = await TestProcess.StartDotnetAsync("controlplane", BuiltProjects.Assembly(typeof(ServerCertificateTests).Assembly, "ControlPlane.csproj"),
                ["--urls", $"https://127.0.0.1:{Ports.FreeBelowEphemeral()}", "--state-dir", state, "--ControlPlane:ServerNames=cp.example,not/a/host"]);

            Assert.Equal(2, await process.Exited.WaitAsync(TimeSpan.FromSeconds(60), Cancel));
            Assert.Contains("error: ControlPlane:ServerNames: 'not/a/host' is neither a host name nor an IP address.", process.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    private static async Task<X509Certificate2> HandshakeAsync(Uri url)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(url.Host, url.Port, Cancel);
        X509Certificate2? presented = null;
        await using var tls = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) =>
        {
            presented = X509CertificateLoader.LoadCertificate(certificate!.GetRawCertData());
            return true;
        });
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, Cancel);
        return presented!;
    }

    private static bool Chains(X509Certificate2 certificate, X509Certificate2 root)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        return chain.Build(certificate);
    }
}
