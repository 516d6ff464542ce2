using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace AspireMesh.Gateway.Tests;

/// <summary>HTTPS with the user's own certificate files, and clear refusals of unusable ones.</summary>
public sealed class CertificateTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static X509Certificate2 CreateCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=gateway.example.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    [Fact]
    public async Task Https_PemCertificateAndKey_ServedWithThatCertificate()
    {
        using var certificate = CreateCertificate();
        var directory = Directory.CreateTempSubdirectory("aspiremesh-cert-").FullName;
        try
        {
            var certPath = Path.Combine(directory, "gateway.crt");
            var keyPath = Path.Combine(directory, "gateway.key");
            await File.WriteAllTextAsync(certPath, certificate.ExportCertificatePem(), Cancel);
            await File.WriteAllTextAsync(keyPath, certificate.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem(), Cancel);
            await using var api = await TestBackend.StartAsync("api-app");
            await using var gateway = await GatewayProcess.StartAsync(HttpsTests.Config, https: true, arguments: ["--certificate", certPath, "--certificate-key", keyPath]);
            using var client = HttpsTests.HttpsClient(gateway, certificate.Thumbprint, version: HttpVersion.Version20);

            await gateway.RegisterAsync("api", api, "/api", client);

            using var response = await client.GetAsync("/api/x", Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await gateway.Process.WaitForLineAsync(Regex.Escape($"HTTPS certificate: CN=gateway.example.test, thumbprint {certificate.Thumbprint}"), GatewayProcess.Deadline);
            Assert.False(File.Exists(Path.Combine(gateway.StateDirectory, "dev-certificate.pfx")), "a development certificate was generated although one was given");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Https_PfxWithPassword_Served()
    {
        using var certificate = CreateCertificate();
        var path = Path.Combine(Path.GetTempPath(), $"aspiremesh-{Guid.NewGuid():N}.pfx");
        await File.WriteAllBytesAsync(path, certificate.Export(X509ContentType.Pkcs12, "s3cret"), Cancel);
        try
        {
            await using var gateway = await GatewayProcess.StartAsync(HttpsTests.Config, https: true, arguments: ["--certificate", path],
                environment: new Dictionary<string, string> { ["ASPIREMESH_CERTIFICATE_PASSWORD"] = "s3cret" });
            using var client = HttpsTests.HttpsClient(gateway, certificate.Thumbprint);

            using var response = await client.GetAsync("/nothing-here", Cancel);

            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("--certificate /nonexistent/gateway.crt", "error: --certificate: '/nonexistent/gateway.crt' does not exist.")]
    [InlineData("--redirect-http", "--redirect-http needs --https-port.")]
    [InlineData("--max-url-length 10", "--max-url-length: 10 is less than 64.")]
    [InlineData("--server-names bad_name!", "--server-names: 'bad_name!' is not a host name")]
    public async Task Start_UnusableHttpsOptions_ExitsSayingWhatIsWrong(string arguments, string message)
    {
        var https = arguments.StartsWith("--certificate", StringComparison.Ordinal) || arguments.StartsWith("--server-names", StringComparison.Ordinal);
        List<string> args = ["--name", "edge", "--host", "127.0.0.1", "--port", "0", "--admin-port", "0", "--control-plane", Ports.ClosedUrl().ToString()];
        if (https)
        {
            args.AddRange(["--https-port", "0"]);
        }

        args.AddRange(arguments.Split(' '));
        await using var gateway = await TestProcess.StartDotnetAsync("gateway", BuiltProjects.Assembly(typeof(CertificateTests).Assembly, "Gateway.csproj"), args);

        Assert.NotEqual(0, await gateway.Exited.WaitAsync(GatewayProcess.Deadline, Cancel));
        Assert.Contains(message, gateway.Output, StringComparison.Ordinal);
    }
}
