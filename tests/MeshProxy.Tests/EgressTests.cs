using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// Calls from an app to hosts outside the mesh, through its real sidecar: allowed by egress policies (with TLS
/// originated by the sidecar), refused otherwise. "localhost" and 127.0.0.x stand in for external hosts (a bare name
/// that no policy allows is taken as a mesh service's: 404 no-route, so refusals are tested on addresses).
/// </summary>
public sealed class EgressTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static MeshConfig Config(params EgressPolicy[] policies) => new()
    {
        Services = [new() { Name = "frontend" }, new() { Name = "admin" }],
        Policies = new() { Egress = policies },
    };

    /// <summary>A client of the sidecar's outbound listener that sends even loopback hosts through it (WebProxy never proxies those).</summary>
    private static HttpClient ClientOf(SidecarProcess sidecar) =>
        new(new SocketsHttpHandler { Proxy = new AlwaysProxy(sidecar.Outbound), UseProxy = true }) { Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<HttpStatusCode> StatusAsync(HttpClient client, string url)
    {
        using var response = await client.GetAsync(url, Cancel);
        return response.StatusCode;
    }

    private static async Task<string> MetricsAsync(SidecarProcess sidecar)
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri(sidecar.Admin, "metrics"), Cancel);
    }

    private static async Task AssertEgressDeniedAsync(HttpResponseMessage response, params string[] because)
    {
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"expected 403, got {(int)response.StatusCode}: {body}");
        Assert.Equal(MeshErrors.EgressDenied, response.Headers.GetValues(MeshHeaders.Error).Single());
        foreach (var part in because)
        {
            Assert.Contains(part, body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task PlainHttp_AllowedHostWithTlsOriginate_SidecarCallsItOverHttpsAndMeasuresIt_WithoutForwardedHeaders()
    {
        await using var server = await HttpsServer.StartAsync();
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EgressTests).Assembly, Config(new EgressPolicy
        {
            Name = "quotes", Hosts = ["localhost"], Port = server.Port, Tls = "Originate", CaCertificate = server.CertificatePem,
        }));
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);
        using var client = ClientOf(frontend);
        await Eventually.UntilAsync(async () => await StatusAsync(client, $"http://localhost:{server.Port}/ready") == HttpStatusCode.OK, Deadline,
            $"frontend's sidecar to call the external host\n{frontend.Process.Output}");

        using var onPolicyPort = await client.GetAsync($"http://localhost:{server.Port}/quote?sku=1", Cancel);
        using var onPort80 = await client.GetAsync("http://localhost/quote?sku=2", Cancel);

        Assert.Equal("https GET /quote?sku=1 host=localhost:" + server.Port, await onPolicyPort.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("https GET /quote?sku=2 host=localhost:" + server.Port, await onPort80.Content.ReadAsStringAsync(Cancel));
        Assert.False(onPolicyPort.Headers.Contains(MeshHeaders.Error));
        // Nothing about the app's connection to its sidecar, or about the mesh, leaves it.
        Assert.All(server.HeaderNames, names => Assert.DoesNotContain(names, n => n.StartsWith("x-forwarded-", StringComparison.Ordinal) || n.StartsWith("x-mesh-", StringComparison.Ordinal) || n == "forwarded"));
        var metrics = await MetricsAsync(frontend);
        Assert.Contains("mesh_requests_total{direction=\"outbound\",source=\"frontend\",destination=\"localhost\",route=\"egress/quotes\",code=\"2xx\",mesh_error=\"\"}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttp_HostNoPolicyAllowsOrServiceNotListed_403EgressDeniedAndTheServerNeverSeesIt()
    {
        await using var server = await HttpsServer.StartAsync();
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EgressTests).Assembly, Config(new EgressPolicy
        {
            Name = "quotes", Hosts = ["127.0.0.1"], Port = server.Port, CaCertificate = server.CertificatePem, FromServices = ["frontend"],
        }));
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);
        await using var admin = await SidecarProcess.StartAsync(controlPlane, "admin", "admin-1", app.Url);
        using var fromFrontend = ClientOf(frontend);
        using var fromAdmin = ClientOf(admin);
        await Eventually.UntilAsync(async () => await StatusAsync(fromFrontend, $"http://127.0.0.1:{server.Port}/ready") == HttpStatusCode.OK, Deadline, "frontend's policy to apply");
        await Eventually.UntilAsync(async () => await admin.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "admin's sidecar to be ready");

        using var otherHost = await fromFrontend.GetAsync($"http://127.0.0.2:{server.Port}/secret", Cancel);
        using var otherPort = await fromFrontend.GetAsync($"http://127.0.0.1:{server.Port + 1}/secret", Cancel);
        using var otherService = await fromAdmin.GetAsync($"http://127.0.0.1:{server.Port}/secret", Cancel);

        await AssertEgressDeniedAsync(otherHost, "'127.0.0.2' is outside the mesh and no egress policy allows 'frontend' to call it", "policies.egress");
        await AssertEgressDeniedAsync(otherPort, $"egress policy 'quotes' allows '127.0.0.1' on port {server.Port}");
        await AssertEgressDeniedAsync(otherService, "'127.0.0.1' is outside the mesh and no egress policy allows 'admin' to call it");
        Assert.DoesNotContain(server.Requests, r => r.Contains("/secret", StringComparison.Ordinal));
        Assert.Contains("mesh_requests_total{direction=\"outbound\",source=\"frontend\",destination=\"127.0.0.2\",route=\"\",code=\"4xx\",mesh_error=\"egress-denied\"}",
            await MetricsAsync(frontend), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttp_TlsNone_ForwardedAsHttp_UntilALiveChangeRemovesThePolicy()
    {
        await using var external = await TestBackend.StartAsync("external");
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EgressTests).Assembly, Config(new EgressPolicy
        {
            Name = "plain", Hosts = ["127.0.0.1"], Port = external.Url.Port, Tls = "None",
        }));
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);
        using var client = ClientOf(frontend);
        var url = $"http://127.0.0.1:{external.Url.Port}/plain";
        await Eventually.UntilAsync(async () => await StatusAsync(client, url) == HttpStatusCode.OK, Deadline, "frontend's sidecar to call the external host");
        Assert.Contains("GET /plain", external.Requests);

        using var put = await controlPlane.Admin.PutAsync("v1/config", new StringContent("services: [{ name: frontend }, { name: admin }]\n", Encoding.UTF8, "application/yaml"), Cancel);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        await Eventually.UntilAsync(async () => await StatusAsync(client, url) == HttpStatusCode.Forbidden, Deadline, () => $"the live change to deny the host\n{frontend.Process.Output}\n{controlPlane.Process.Output}");
        var before = external.Requests.Count;
        using var denied = await client.GetAsync(url, Cancel);
        await AssertEgressDeniedAsync(denied, "'127.0.0.1' is outside the mesh");
        Assert.Equal(before, external.Requests.Count);
    }

    [Fact]
    public async Task PlainHttp_SidecarWithoutATracer_TheCallersTraceContextReachesTheHostUnchanged()
    {
        await using var external = await TestBackend.StartAsync("external");
        var seen = new ConcurrentQueue<string>();
        external.Handler = context =>
        {
            seen.Enqueue(context.Request.Headers["traceparent"].ToString());
            return context.Response.WriteAsync("ok");
        };
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EgressTests).Assembly, Config(new EgressPolicy
        {
            Name = "plain", Hosts = ["127.0.0.1"], Port = external.Url.Port, Tls = "None",
        }));
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);
        using var client = ClientOf(frontend);
        var url = $"http://127.0.0.1:{external.Url.Port}/traced";
        await Eventually.UntilAsync(async () => await StatusAsync(client, url) == HttpStatusCode.OK, Deadline, "frontend's sidecar to call the external host");

        // The sidecar records no span (no OTLP endpoint): what the app sent is what the host gets, sampled flag included.
        const string traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.TryAddWithoutValidation("traceparent", traceparent);
        using var response = await client.SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(traceparent, seen.Last());
    }

    [Fact]
    public async Task Connect_AllowedHostAndPort_TunnelsToTheHost_OtherPortRefused()
    {
        await using var external = await TestBackend.StartAsync("external");
        await using var app = await TestBackend.StartAsync("app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EgressTests).Assembly, Config(new EgressPolicy
        {
            Name = "raw", Hosts = ["localhost"], Port = external.Url.Port, Tls = "None",
        }));
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);
        using var client = ClientOf(frontend);
        await Eventually.UntilAsync(async () => await StatusAsync(client, $"http://localhost:{external.Url.Port}/ready") == HttpStatusCode.OK, Deadline, "the policy to apply");

        string established, answer;
        using (var socket = await RawExchange.ConnectAsync(frontend.Outbound, Cancel))
        {
            await using var stream = new NetworkStream(socket);
            established = await RawExchange.ExchangeAsync(stream, Deadline, Cancel, $"CONNECT localhost:{external.Url.Port} HTTP/1.1\r\nHost: localhost:{external.Url.Port}\r\n\r\n");
            answer = await RawExchange.ExchangeAsync(stream, Deadline, Cancel, "GET /tunnelled HTTP/1.1\r\nHost: localhost\r\n\r\n");
        }

        string refused;
        using (var socket = await RawExchange.ConnectAsync(frontend.Outbound, Cancel))
        {
            await using var stream = new NetworkStream(socket);
            refused = await RawExchange.ExchangeAsync(stream, Deadline, Cancel, $"CONNECT localhost:{external.Url.Port + 1} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        }

        Assert.StartsWith("HTTP/1.1 200", established, StringComparison.Ordinal);
        Assert.Contains("external GET /tunnelled", answer, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 403", refused, StringComparison.Ordinal);
        Assert.Contains($"{MeshHeaders.Error}: {MeshErrors.EgressDenied}", refused, StringComparison.Ordinal);
        Assert.Contains($"no egress policy allows it to call localhost:{external.Url.Port + 1}", refused, StringComparison.Ordinal);
        await Eventually.UntilAsync(async () => (await MetricsAsync(frontend)).Contains(
            "mesh_requests_total{direction=\"outbound\",source=\"frontend\",destination=\"localhost\",route=\"egress/raw\",code=\"2xx\",mesh_error=\"\"} 2", StringComparison.Ordinal),
            Deadline, "the tunnel to be measured (with the plain request that proved the policy)");
    }

    [Fact]
    public async Task CaCertificateFileMissing_SnapshotRefusedWithTheReason()
    {
        await using var app = await TestBackend.StartAsync("app");
        var missing = Path.Combine(Path.GetTempPath(), $"aspiremesh-missing-{Guid.NewGuid():N}.pem");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EgressTests).Assembly, Config(new EgressPolicy
        {
            Name = "quotes", Hosts = ["api.example.com"], CaCertificate = missing,
        }));
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", app.Url);

        await Eventually.UntilAsync(async () => (await controlPlane.Http.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel))!
            .Proxies.FirstOrDefault(p => p.Id == "frontend-1") is { LastRefusal: { } refusal } && refusal.Contains($"egress policy 'quotes': caCertificate: cannot read '{missing}'", StringComparison.Ordinal),
            Deadline, () => $"frontend-1 to refuse the snapshot naming the file\n{frontend.Process.Output}");
    }

    /// <summary>Sends every request through the proxy, loopback hosts included.</summary>
    private sealed class AlwaysProxy(Uri proxy) : IWebProxy
    {
        public ICredentials? Credentials { get; set; }

        public Uri GetProxy(Uri destination) => proxy;

        public bool IsBypassed(Uri host) => false;
    }

    /// <summary>An HTTPS server on loopback with a self-signed certificate for localhost that no system trusts.</summary>
    private sealed class HttpsServer : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private HttpsServer(WebApplication app, string certificatePem)
        {
            _app = app;
            CertificatePem = certificatePem;
            Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        }

        public int Port { get; }

        public string CertificatePem { get; }

        public ConcurrentQueue<string> Requests { get; } = new();

        /// <summary>The names of the request headers of every request, lower case.</summary>
        public ConcurrentQueue<string[]> HeaderNames { get; } = new();

        public static async Task<HttpsServer> StartAsync()
        {
            using var key = RSA.Create(2048);
            var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
            var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));

            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.UseHttps(certificate)));
            var app = builder.Build();
            HttpsServer? server = null;
            app.Run(context =>
            {
                var line = $"{context.Request.Scheme} {context.Request.Method} {context.Request.Path}{context.Request.QueryString} host={context.Request.Host}";
                server!.Requests.Enqueue(line);
                server.HeaderNames.Enqueue([.. context.Request.Headers.Keys.Select(k => k.ToLowerInvariant())]);
                return context.Response.WriteAsync(line);
            });
            await app.StartAsync();
            server = new HttpsServer(app, certificate.ExportCertificatePem());
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
