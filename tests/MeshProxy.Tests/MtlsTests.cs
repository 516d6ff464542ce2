using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Security;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Security;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>mTLS between sidecars: identities from the mesh CA, strict and permissive modes, refusals, renewal, rotation.</summary>
public sealed class MtlsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static MeshConfig Mesh(string catalogMode = MtlsModes.Strict) => new()
    {
        Services =
        [
            new ServiceConfig { Name = "frontend", References = ["catalog"] },
            new ServiceConfig { Name = "catalog", Mtls = catalogMode },
        ],
    };

    private static async Task<string> CallUntilOkAsync(HttpClient client, string url)
    {
        var body = "";
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync(url, Cancel);
            body = await response.Content.ReadAsStringAsync(Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, Deadline, () => $"{url} to answer 200 (last: {body})");
        return body;
    }

    [Fact]
    public async Task SidecarPair_Strict_CallerIdentityComesFromItsCertificateNotFromHeaders()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        var seenSources = new System.Collections.Concurrent.ConcurrentQueue<string>();
        catalogApp.Handler = context =>
        {
            if (context.Request.Path == "/items")
            {
                seenSources.Enqueue(context.Request.Headers[MeshHeaders.Source].ToString());
            }

            return context.Response.WriteAsync($"source={context.Request.Headers[MeshHeaders.Source]}");
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MtlsTests).Assembly, Mesh());
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url, "--access-log");
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url, "--access-log");
        using var client = frontend.OutboundClient();
        client.DefaultRequestHeaders.Add(MeshHeaders.Source, "payments");

        // Strict mode refuses plaintext, so an answer from the app proves the hop was mTLS.
        var body = await CallUntilOkAsync(client, "http://catalog/items");

        Assert.Equal("source=frontend", body);
        Assert.NotEmpty(seenSources);
        Assert.All(seenSources, s => Assert.Equal("frontend", s));
        var services = await controlPlane.GetServicesAsync();
        Assert.Equal("spiffe://cluster.local/ns/default/sa/catalog", services.Services.Single(s => s.Name == "catalog").Instances.Single().Identity);
        await Eventually.UntilAsync(() => Task.FromResult(catalog.Process.Output.Contains("source=frontend destination=catalog", StringComparison.Ordinal)), Deadline,
            "catalog's access log to name the proved caller");
        // A completed mesh handshake is not counted as a refused one.
        using var http = new HttpClient();
        Assert.DoesNotContain("mesh_tls_refusals_total{", await http.GetStringAsync(new Uri(catalog.Admin, "metrics"), Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestMirror_ToAStrictService_TheCopyGoesOverMtlsAsTheCaller()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var shadowApp = await TestBackend.StartAsync("shadow-app");
        var copies = new System.Collections.Concurrent.ConcurrentQueue<string>();
        shadowApp.Handler = async context =>
        {
            if (context.Request.Path != "/orders")
            {
                await context.Response.WriteAsync("shadow");
                return;
            }

            using var reader = new StreamReader(context.Request.Body);
            var headers = context.Request.Headers;
            copies.Enqueue($"{context.Request.Method} {context.Request.Path} host={context.Request.Host} source={headers[MeshHeaders.Source]} mirror={headers["x-mesh-mirror"]} {await reader.ReadToEndAsync()}");
            await context.Response.WriteAsync("shadow");
        };
        var config = Mesh() with
        {
            // frontend names the shadow too, only so that the test can tell when frontend's sidecar can reach it.
            Services = [new ServiceConfig { Name = "frontend", References = ["catalog", "catalog-shadow"] }, new ServiceConfig { Name = "catalog" }, new ServiceConfig { Name = "catalog-shadow" }],
            Routes =
            [
                new HttpRouteConfig
                {
                    Name = "catalog-mirror", ParentRefs = [new ParentReference { Kind = "Service", Name = "catalog" }],
                    Rules =
                    [
                        new HttpRouteRule
                        {
                            BackendRefs = [new BackendReference { Name = "catalog" }],
                            Filters = [new HttpRouteFilter { Type = FilterTypes.RequestMirror, RequestMirror = new RequestMirror { BackendRef = new BackendReference { Name = "catalog-shadow" }, Percent = 100 } }],
                        },
                    ],
                },
            ],
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MtlsTests).Assembly, config);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var shadow = await SidecarProcess.StartAsync(controlPlane, "catalog-shadow", "catalog-shadow-1", shadowApp.Url);
        using var client = frontend.OutboundClient();
        await CallUntilOkAsync(client, "http://catalog-shadow/ready");
        await CallUntilOkAsync(client, "http://catalog/ready");

        using var response = await client.PostAsync("http://catalog/orders", new StringContent("order 7"), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // The shadow's sidecar takes mTLS callers only, and names the caller from its certificate.
        await Eventually.UntilAsync(() => !copies.IsEmpty, Deadline, () => $"the copy to reach the shadow{Environment.NewLine}{frontend.Process.Output}");
        Assert.Equal("POST /orders host=catalog source=frontend mirror=true order 7", copies.Single());
    }

    [Fact]
    public async Task Strict_PlaintextCaller_403MtlsRequiredAndTheAppSeesNothing()
    {
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MtlsTests).Assembly, Mesh());
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await Eventually.UntilAsync(async () => await catalog.ReadyStatusAsync() == HttpStatusCode.OK, Deadline, "catalog's sidecar to be ready");
        using var plain = new HttpClient();

        using var response = await plain.GetAsync(new Uri(catalog.Inbound, "items"), Cancel);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(MeshErrors.MtlsRequired, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Contains("mTLS only (strict mode)", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.DoesNotContain(catalogApp.Requests, r => r.Contains("/items", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Strict_TlsWithoutCertificate_OpensslHandshakeRefused()
    {
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MtlsTests).Assembly, Mesh());
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await AssertOpensslRefusedAsync(controlPlane, catalog, null, null, TlsRefusals.NoCertificate);

        Assert.DoesNotContain(catalogApp.Requests, r => r.Contains("/items", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Strict_CertificateFromAnotherCa_RefusedByHttpClientAndOpenssl()
    {
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MtlsTests).Assembly, Mesh());
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        using var mesh = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        using var rogueRoot = CreateRoot("Rogue CA");
        using var rogue = CreateLeaf(rogueRoot, "spiffe://cluster.local/ns/default/sa/frontend", DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        using var client = MeshIdentity.CreateClient(rogue, mesh.Roots);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri(MeshIdentity.Secure(catalog.Inbound), "items"), Cancel));

        var (certPath, keyPath) = WritePem(catalog.StateDirectory, "rogue", rogue);
        await AssertOpensslRefusedAsync(controlPlane, catalog, certPath, keyPath, TlsRefusals.CertificateRefused);
        Assert.DoesNotContain(catalogApp.Requests, r => r.Contains("/items", StringComparison.Ordinal));
        await Eventually.UntilAsync(() => Task.FromResult(catalog.Process.Output.Contains("Refused a downstream TLS peer", StringComparison.Ordinal)), Deadline,
            "the sidecar to log why it refused the peer");

        // The same request with the mesh's own certificate passes: the refusal was about the CA.
        using var good = mesh.Client();
        Assert.Equal("catalog-app GET /items", await CallUntilOkAsync(good, new Uri(MeshIdentity.Secure(catalog.Inbound), "items").ToString()));
    }

    [Fact]
    public async Task Strict_ExpiredMeshCertificate_RefusedByHttpClientAndOpenssl()
    {
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MtlsTests).Assembly, Mesh());
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        using var mesh = await MeshIdentity.IssueAsync(controlPlane, "sidecar", "frontend");
        // Signed by the mesh's own root (its key is in the control plane's state directory), but expired an hour ago.
        var ca = Directory.GetFiles(Path.Combine(controlPlane.StateDirectory, "ca"), "*.crt.pem").Single();
        using var root = X509Certificate2.CreateFromPemFile(ca, ca.Replace(".crt.pem", ".key.pem", StringComparison.Ordinal));
        // The root was made a minute before the control plane started, so a leaf can have lived and died after it.
        var rootStart = new DateTimeOffset(root.NotBefore.ToUniversalTime());
        using var expired = CreateLeaf(root, "spiffe://cluster.local/ns/default/sa/frontend", rootStart, rootStart.AddSeconds(30));
        using var client = MeshIdentity.CreateClient(expired, mesh.Roots);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri(MeshIdentity.Secure(catalog.Inbound), "items"), Cancel));
        var (certPath, keyPath) = WritePem(catalog.StateDirectory, "expired", expired);
        await AssertOpensslRefusedAsync(controlPlane, catalog, certPath, keyPath, TlsRefusals.CertificateRefused);

        Assert.DoesNotContain(catalogApp.Requests, r => r.Contains("/items", StringComparison.Ordinal));
        await Eventually.UntilAsync(() => Task.FromResult(catalog.Process.Output.Contains("Refused a downstream TLS peer", StringComparison.Ordinal)), Deadline,
            "the sidecar to log why it refused the expired certificate");
    }

    [Fact]
    public async Task Permissive_PlaintextAndMtlsCallersBothServed_AndTheModeChangesLive()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MtlsTests).Assembly, Mesh(MtlsModes.Permissive));
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        using var plain = new HttpClient();
        using var meshClient = frontend.OutboundClient();

        Assert.Equal("catalog-app GET /direct", await CallUntilOkAsync(plain, new Uri(catalog.Inbound, "direct").ToString()));
        Assert.Equal("catalog-app GET /through-mesh", await CallUntilOkAsync(meshClient, "http://catalog/through-mesh"));

        using var strict = await controlPlane.Admin.PutAsJsonAsync("v1/config", Mesh(MtlsModes.Strict), MeshJsonContext.Default.MeshConfig, Cancel);
        Assert.True(strict.IsSuccessStatusCode, await strict.Content.ReadAsStringAsync(Cancel));
        await Eventually.UntilAsync(async () =>
        {
            using var response = await plain.GetAsync(new Uri(catalog.Inbound, "direct-again"), Cancel);
            return response.StatusCode == HttpStatusCode.Forbidden;
        }, Deadline, "plaintext callers to be refused once catalog is strict");
        Assert.Equal("catalog-app GET /still-through-mesh", await CallUntilOkAsync(meshClient, "http://catalog/still-through-mesh"));
    }

    [Fact]
    public async Task Renewal_ShortLifetime_CertificatesRenewWhileTrafficFlowsWithoutErrors()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MtlsTests).Assembly, Mesh(), "--ControlPlane:CertificateLifetime=00:00:10");
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        using var client = frontend.OutboundClient();
        await CallUntilOkAsync(client, "http://catalog/warm");

        // Renewals counted from here: on a slow machine the sidecars may already have renewed while the first call was
        // still waiting for its route, and those renewals saw no traffic.
        var catalogBefore = Count(catalog.Process.Output, "(renewed)");
        var frontendBefore = Count(frontend.Process.Output, "(renewed)");
        var failures = new List<string>();
        var requests = 0;
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync($"http://catalog/r{requests++}", Cancel);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                failures.Add($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Cancel)}");
            }

            return Count(catalog.Process.Output, "(renewed)") >= catalogBefore + 2 && Count(frontend.Process.Output, "(renewed)") >= frontendBefore + 2;
        }, Deadline, "both sidecars to renew their certificates twice while requests flow");

        Assert.Empty(failures);
        Assert.True(requests > 2);
        // Each renewal is reported after it happens; with 10-second certificates the report can lag one behind.
        var reported = "";
        await Eventually.UntilAsync(async () =>
        {
            var proxies = await controlPlane.Http.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel);
            reported = string.Join(", ", proxies!.Proxies.Select(p => $"{p.Id}: {p.CertificateNotAfter:O}"));
            return proxies.Proxies.Count > 0 && proxies.Proxies.All(p => p.CertificateNotAfter > DateTimeOffset.UtcNow);
        }, Deadline, "every proxy to report a current certificate");
        Assert.NotEmpty(reported);
    }

    [Fact]
    public async Task RootRotation_OldAndNewRootsTrustedDuringOverlap_ThenOnlyTheNew()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(MtlsTests).Assembly, Mesh(),
            "--ControlPlane:CertificateLifetime=00:00:06", "--ControlPlane:RootOverlap=00:00:12");
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        using var client = frontend.OutboundClient();
        await CallUntilOkAsync(client, "http://catalog/before");
        var before = (await controlPlane.Http.GetFromJsonAsync("v1/ca", MeshJsonContext.Default.CertificateAuthorityInfo, Cancel))!;

        using var rotated = await controlPlane.Admin.PostAsync("v1/ca/rotate", null, Cancel);
        Assert.True(rotated.IsSuccessStatusCode, await rotated.Content.ReadAsStringAsync(Cancel));
        var during = (await rotated.Content.ReadFromJsonAsync(MeshJsonContext.Default.CertificateAuthorityInfo, Cancel))!;
        Assert.Equal(2, during.Roots.Count);
        Assert.Equal(before.Roots.Single().Thumbprint, during.Roots.Single(r => !r.Issuing).Thumbprint);

        var failures = new List<string>();
        var i = 0;
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync($"http://catalog/during{i++}", Cancel);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                failures.Add($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Cancel)}");
            }

            var now = (await controlPlane.Http.GetFromJsonAsync("v1/ca", MeshJsonContext.Default.CertificateAuthorityInfo, Cancel))!;
            return now.Roots.Count == 1;
        }, Deadline, "the old root to leave the bundle after the overlap");

        Assert.Empty(failures);
        Assert.Equal("catalog-app GET /after", await CallUntilOkAsync(client, "http://catalog/after"));
        await controlPlane.Process.WaitForLineAsync("retired", Deadline);
    }

    private static int Count(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>
    /// A real <c>openssl s_client</c> (trusting the mesh's roots, with the given client certificate or none) connects to
    /// the sidecar's inbound port and sends a request: it must get no HTTP answer. With TLS 1.3 the client finishes its
    /// side of the handshake; the sidecar, refusing the certificate (or its absence), closes the connection.
    /// </summary>
    /// The refusal is counted on the sidecar's /metrics under <paramref name="reason"/>.
    private static async Task AssertOpensslRefusedAsync(ControlPlaneProcess controlPlane, SidecarProcess sidecar, string? cert, string? key, string reason)
    {
        var bundle = Path.Combine(sidecar.StateDirectory, "bundle-test.pem");
        await File.WriteAllTextAsync(bundle, await controlPlane.Http.GetStringAsync("v1/ca/bundle.pem", Cancel), Cancel);

        var (code, output) = await OpensslAsync(sidecar.Inbound, bundle, cert, key);

        Assert.Contains("CONNECTED", output, StringComparison.Ordinal);
        Assert.NotEqual(0, code);
        Assert.DoesNotContain("HTTP/1.1", output, StringComparison.Ordinal);
        using var http = new HttpClient();
        await Eventually.UntilAsync(async () => System.Text.RegularExpressions.Regex.IsMatch(await http.GetStringAsync(new Uri(sidecar.Admin, "metrics"), Cancel),
                $@"^mesh_tls_refusals_total\{{listener=""inbound"",reason=""{reason}""\}} [1-9]", System.Text.RegularExpressions.RegexOptions.Multiline),
            Deadline, $"the sidecar's /metrics to count the refused handshake as {reason}");
    }

    /// <summary>Runs a real <c>openssl s_client</c> against the inbound port, sends one request, returns its exit code and output.</summary>
    private static async Task<(int Code, string Output)> OpensslAsync(Uri inbound, string caFile, string? cert, string? key)
    {
        var start = new System.Diagnostics.ProcessStartInfo("openssl")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "s_client", "-connect", $"127.0.0.1:{inbound.Port}", "-CAfile", caFile, "-ign_eof" })
        {
            start.ArgumentList.Add(arg);
        }

        if (cert is not null)
        {
            foreach (var arg in new[] { "-cert", cert, "-key", key! })
            {
                start.ArgumentList.Add(arg);
            }
        }

        using var openssl = System.Diagnostics.Process.Start(start)!;
        try
        {
            var stdout = openssl.StandardOutput.ReadToEndAsync(Cancel);
            var stderr = openssl.StandardError.ReadToEndAsync(Cancel);
            await openssl.StandardInput.WriteAsync("GET /items HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n");
            await openssl.StandardInput.FlushAsync(Cancel);
            openssl.StandardInput.Close();
            await openssl.WaitForExitAsync(Cancel).WaitAsync(Deadline, Cancel);
            return (openssl.ExitCode, await stdout + await stderr);
        }
        finally
        {
            if (!openssl.HasExited)
            {
                openssl.Kill(entireProcessTree: true);
            }
        }
    }

    private static X509Certificate2 CreateRoot(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    private static X509Certificate2 CreateLeaf(X509Certificate2 issuer, string spiffe, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=frontend", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(spiffe));
        request.CertificateExtensions.Add(names.Build(true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2"), new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = request.Create(issuer, notBefore, notAfter, RandomNumberGenerator.GetBytes(8));
        return X509CertificateLoader.LoadPkcs12(leaf.CopyWithPrivateKey(key).Export(X509ContentType.Pfx), null);
    }

    private static (string Cert, string Key) WritePem(string directory, string name, X509Certificate2 certificate)
    {
        var cert = Path.Combine(directory, $"{name}.crt.pem");
        var key = Path.Combine(directory, $"{name}.key.pem");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(key, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        return (cert, key);
    }
}
