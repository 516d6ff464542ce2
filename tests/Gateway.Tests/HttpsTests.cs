using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using AspireMesh.Contracts.Config;

namespace AspireMesh.Gateway.Tests;

/// <summary>The gateway's HTTPS listener: certificates, HTTP/2 by ALPN, the redirect from HTTP, and server names (SNI).</summary>
public sealed class HttpsTests(HttpsTests.Mesh mesh) : IClassFixture<HttpsTests.Mesh>
{
    internal static readonly MeshConfig Config = new()
    {
        Services = [new() { Name = "api" }],
        Routes = [new() { Name = "api", ParentRefs = [new() { Name = "edge" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/api" } }], BackendRefs = [new() { Name = "api" }] }] }],
    };

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>A gateway with HTTPS on a development certificate, the HTTP redirect, and <c>--server-names localhost *.example.test</c>.</summary>
    public sealed class Mesh : IAsyncLifetime
    {
        public GatewayProcess Gateway { get; private set; } = null!;

        public TestBackend Api { get; private set; } = null!;

        public string Thumbprint { get; private set; } = null!;

        public string CertificatePath { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            Api = await TestBackend.StartAsync("api-app");
            Gateway = await GatewayProcess.StartAsync(Config, https: true, arguments: ["--redirect-http", "--server-names", "localhost", "*.example.test"]);
            var line = await Gateway.Process.WaitForLineAsync(@"HTTPS development certificate \(created\): (?<path>\S+), thumbprint (?<thumbprint>[0-9A-F]{40}), expires \d{4}-\d\d-\d\d", GatewayProcess.Deadline);
            Thumbprint = line.Groups["thumbprint"].Value;
            CertificatePath = line.Groups["path"].Value;
            using var https = HttpsClient(Gateway, Thumbprint);
            await Gateway.RegisterAsync("api", Api, "/api", https);
        }

        public async ValueTask DisposeAsync()
        {
            await Gateway.DisposeAsync();
            await Api.DisposeAsync();
        }
    }

    /// <summary>An HTTPS client to the gateway that trusts exactly the certificate with <paramref name="thumbprint"/>.</summary>
    internal static HttpClient HttpsClient(GatewayProcess gateway, string thumbprint, string host = "localhost", Version? version = null) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is X509Certificate2 c && c.Thumbprint == thumbprint,
        },
    })
    {
        BaseAddress = new Uri($"https://{host}:{gateway.HttpsPort}/"),
        DefaultRequestVersion = version ?? HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = GatewayProcess.Deadline,
    };

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Https_DevelopmentCertificate_ServesHttp11AndHttp2ByAlpn(string version)
    {
        using var client = HttpsClient(mesh.Gateway, mesh.Thumbprint, version: Version.Parse(version));

        using var response = await client.GetAsync("/api/items", Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Version.Parse(version), response.Version);
        Assert.Equal("api-app GET /api/items", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public void Https_DevelopmentCertificate_KeptInTheStateDirectoryForLocalhost()
    {
        Assert.Equal(Path.Combine(mesh.Gateway.StateDirectory, "dev-certificate.crt"), mesh.CertificatePath);
        using var certificate = X509CertificateLoader.LoadCertificateFromFile(mesh.CertificatePath);

        Assert.Equal(mesh.Thumbprint, certificate.Thumbprint);
        Assert.True(certificate.MatchesHostname("localhost"));
        Assert.True(certificate.MatchesHostname("127.0.0.1"));
        Assert.True(File.Exists(Path.Combine(mesh.Gateway.StateDirectory, "dev-certificate.pfx")));
    }

    [Fact]
    public async Task RedirectHttp_PlainRequest_308ToTheSameUrlOnHttpsNotForwarded()
    {
        var before = mesh.Api.Requests.Count;

        using var response = await mesh.Gateway.Client.PostAsync("/api/orders?id=7", new StringContent("{}"), Cancel);

        Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
        Assert.Equal(new Uri($"https://127.0.0.1:{mesh.Gateway.HttpsPort}/api/orders?id=7"), response.Headers.Location);
        Assert.Equal(before, mesh.Api.Requests.Count);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("shop.example.test")]
    public async Task ServerNames_KnownSni_HandshakeSucceeds(string serverName)
    {
        await using var tls = await HandshakeAsync(serverName);

        Assert.Equal(mesh.Thumbprint, ((X509Certificate2)tls.RemoteCertificate!).Thumbprint);
    }

    [Theory]
    [InlineData("unknown.example")]
    [InlineData("a.b.example.test")]
    public async Task ServerNames_UnknownSni_HandshakeRefused(string serverName)
    {
        var before = mesh.Api.Requests.Count;

        var error = await Record.ExceptionAsync(async () => await (await HandshakeAsync(serverName)).DisposeAsync());

        Assert.True(error is AuthenticationException or IOException, $"expected the handshake to fail, got: {error?.ToString() ?? "success"}");
        Assert.Equal(before, mesh.Api.Requests.Count);
    }

    [Fact]
    public async Task ServerNames_UnknownSni_OpensslClientRefused()
    {
        var refused = await OpensslAsync("unknown.example");
        var accepted = await OpensslAsync("localhost");

        Assert.True(refused.ExitCode != 0 && !refused.Output.Contains("CONNECTION ESTABLISHED", StringComparison.Ordinal), $"openssl with an unknown name:{Environment.NewLine}{refused.Output}");
        Assert.True(accepted.Output.Contains("CONNECTION ESTABLISHED", StringComparison.Ordinal), $"openssl with localhost:{Environment.NewLine}{accepted.Output}");
    }

    private async Task<SslStream> HandshakeAsync(string serverName)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, mesh.Gateway.HttpsPort!.Value, Cancel);
        var tls = new SslStream(client.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) => true);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = serverName }, Cancel);
            return tls;
        }
        catch
        {
            await tls.DisposeAsync();
            client.Dispose();
            throw;
        }
    }

    private async Task<(int ExitCode, string Output)> OpensslAsync(string serverName)
    {
        await using var openssl = await TestProcess.StartAsync($"openssl-{serverName}", "openssl",
            ["s_client", "-connect", $"127.0.0.1:{mesh.Gateway.HttpsPort}", "-servername", serverName, "-brief"]);
        // s_client ends when its input does (the launcher gives it none) after the handshake, or at once when it fails.
        var code = await openssl.Exited.WaitAsync(GatewayProcess.Deadline, Cancel);
        return (code, openssl.Output);
    }
}
