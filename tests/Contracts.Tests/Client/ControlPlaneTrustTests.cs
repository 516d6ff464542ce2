using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AspireMesh.Contracts.Client;

namespace AspireMesh.Contracts.Tests.Client;

/// <summary>
/// How a client of the control plane checks its certificate, against a real TLS listener on loopback that presents a
/// certificate of a test root (the control plane's own listener is tested in ControlPlane.Tests).
/// </summary>
public sealed class ControlPlaneTrustTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("127.0.0.1", true, null)]
    [InlineData("cp.example", true, "the control plane's certificate is not for '127.0.0.1': it names cp.example, 10.9.8.7. Connect by one of those names, or give the control plane this one (--ControlPlane:ServerNames).")]
    [InlineData("127.0.0.1", false, "is not trusted: it does not chain to a root this client was given or holds")]
    public async Task Certificate_CheckedForTheRootAndTheName_RefusalSaysWhy(string name, bool rootGiven, string? refusal)
    {
        using var root = NewRoot();
        using var otherRoot = NewRoot();
        using var server = Issue(root, name);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serving = ServeOnceAsync(listener, server);
        var trust = new ControlPlaneTrust((rootGiven ? root : otherRoot).ExportCertificatePem());
        using var client = trust.CreateClient(new Uri($"https://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/"), TimeSpan.FromSeconds(30));

        if (refusal is null)
        {
            Assert.Equal("ok", await client.GetStringAsync(new Uri("health", UriKind.Relative), Cancel));
        }
        else
        {
            var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(new Uri("health", UriKind.Relative), Cancel));
            Assert.Contains(refusal, refused.Message, StringComparison.Ordinal);
        }

        listener.Stop();
        await serving;
    }

    [Fact]
    public async Task WorkloadCertificateOfTheMesh_NotTakenForTheControlPlane()
    {
        // Workload certificates chain to the same root and are server certificates too.
        using var root = NewRoot();
        using var workload = Issue(root, "127.0.0.1", "spiffe://test.local/ns/default/sa/controlplane");
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serving = ServeOnceAsync(listener, workload);
        using var client = new ControlPlaneTrust(root.ExportCertificatePem()).CreateClient(new Uri($"https://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/"), TimeSpan.FromSeconds(30));

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(new Uri("health", UriKind.Relative), Cancel));

        Assert.Contains("is a mesh workload's (spiffe://test.local/ns/default/sa/controlplane), not the control plane's", refused.Message, StringComparison.Ordinal);
        listener.Stop();
        await serving;
    }

    [Fact]
    public async Task MeshRoots_AddedLater_Trusted()
    {
        using var root = NewRoot();
        using var otherRoot = NewRoot();
        using var server = Issue(root, "127.0.0.1");
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var trust = new ControlPlaneTrust(otherRoot.ExportCertificatePem());
        trust.UseMeshRoots([otherRoot.ExportCertificatePem() + "\n" + root.ExportCertificatePem()]);
        var serving = ServeOnceAsync(listener, server);
        using var client = trust.CreateClient(new Uri($"https://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/"), TimeSpan.FromSeconds(30));

        Assert.Equal("ok", await client.GetStringAsync(new Uri("health", UriKind.Relative), Cancel));

        listener.Stop();
        await serving;
    }

    [Theory]
    [InlineData("not a certificate", "is neither PEM text nor a readable file")]
    [InlineData("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----", "holds no")]
    public void Configured_Unreadable_RefusedNamingTheVariable(string configured, string expected)
    {
        var refused = Assert.Throws<InvalidDataException>(() => new ControlPlaneTrust(configured));

        Assert.StartsWith(ControlPlaneTrust.EnvironmentVariable, refused.Message, StringComparison.Ordinal);
        Assert.Contains(expected, refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://controlplane:8761/", true)]
    [InlineData("http://10.1.2.3:8761/", true)]
    [InlineData("http://127.0.0.1:8761/", false)]
    [InlineData("http://localhost:8761/", false)]
    [InlineData("http://[::1]:8761/", false)]
    [InlineData("https://controlplane:8761/", false)]
    public void InTheClear_PlainHttpToAnotherMachineOnly(string address, bool expected) =>
        Assert.Equal(expected, ControlPlaneTrust.InTheClear(new Uri(address)));

    private static X509Certificate2 NewRoot() => AspireMesh.Contracts.Security.MeshRootCertificate.Create("test.local", DateTimeOffset.UtcNow);

    /// <summary>A server certificate from <paramref name="root"/> for <paramref name="name"/> (and 10.9.8.7 when it is a host name), a workload's with <paramref name="spiffeId"/>.</summary>
    private static X509Certificate2 Issue(X509Certificate2 root, string name, string? spiffeId = null)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test control plane", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(name, out var address))
        {
            san.AddIpAddress(address);
        }
        else
        {
            san.AddDnsName(name);
            san.AddIpAddress(IPAddress.Parse("10.9.8.7"));
        }

        if (spiffeId is not null)
        {
            san.AddUri(new Uri(spiffeId));
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        // Named by its key: roots made in the same second have the same subject.
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var issued = request.Create(root, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1), RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Answers one HTTP/1.1 request over TLS with "ok" (the client may refuse the handshake instead).</summary>
    private static async Task ServeOnceAsync(TcpListener listener, X509Certificate2 certificate)
    {
        using var connection = await listener.AcceptTcpClientAsync(Cancel);
        await using var tls = new SslStream(connection.GetStream());
        try
        {
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, Cancel);
            var buffer = new byte[4096];
            var read = 0;
            while (!Encoding.ASCII.GetString(buffer, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var n = await tls.ReadAsync(buffer.AsMemory(read), Cancel);
                if (n == 0)
                {
                    return;
                }

                read += n;
            }

            await tls.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray(), Cancel);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
        {
            // The client refused the certificate and closed the connection.
        }
    }
}
