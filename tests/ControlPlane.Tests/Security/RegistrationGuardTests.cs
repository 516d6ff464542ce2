using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Registry;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ControlPlane.Tests.Security;

/// <summary>
/// Who may change the registry and report as a proxy from off the control plane's machine. Test traffic stays on
/// loopback, so the control plane is told to treat loopback like any other network (<c>OpenOnLoopback=false</c>).
/// </summary>
public sealed class RegistrationGuardTests
{
    private const string NotOnLoopback = "--ControlPlane:OpenOnLoopback=false";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static string Registration(string service, int port) => $$"""{"service": "{{service}}", "address": "http://127.0.0.1:{{port}}", "healthy": true}""";

    private static string EurekaInstance(string app, string id) => $$"""
        {"instance": {"instanceId": "{{id}}", "app": "{{app}}", "hostName": "127.0.0.1", "ipAddr": "127.0.0.1", "status": "UP",
         "port": {"$": 5005, "@enabled": "true"}, "vipAddress": "{{app.ToLowerInvariant()}}",
         "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"} } }
        """;

    private static async Task<(HttpStatusCode Status, string Body)> SendAsync(ControlPlaneProcess controlPlane, HttpMethod method, string path, string? body = null,
        Action<HttpRequestHeaders>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : Json(body) };
        headers?.Invoke(request.Headers);
        using var response = await controlPlane.Http.SendAsync(request, Cancel);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Cancel));
    }

    // The detail of a problem document, the body answered or the end of a ControlPlaneException's message; a text body as it is.
    private static string Detail(string text)
    {
        var start = text.IndexOf("{\"title\"", StringComparison.Ordinal);
        return start < 0 ? text : System.Text.Json.JsonDocument.Parse(text[start..]).RootElement.GetProperty("detail").GetString()!;
    }

    private static Action<HttpRequestHeaders> Bearer(string token) => h => h.Authorization = new AuthenticationHeaderValue("Bearer", token);

    private static async Task<string> MintAsync(ControlPlaneProcess controlPlane, string service)
    {
        using var response = await controlPlane.Admin.PostAsync("v1/registration-tokens", Json($$"""{"service": "{{service}}"}"""), Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(Cancel));
        return (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.RegistrationTokenGrant, Cancel))!.Token;
    }

    // A proxy's certificate request, as a proxy makes it with its bootstrap credential: the registration token that comes with it.
    private static async Task<string> ProxyTokenAsync(ControlPlaneProcess controlPlane, string kind, string name, string instance)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var issued = await controlPlane.Client.RequestCertificateAsync(new CertificateSigningRequest(kind, name, instance, csr), ControlPlaneProcess.Credential(kind, name, instance), Cancel);
        return issued.RegistrationToken!;
    }

    private static async Task<IReadOnlyList<string>> InstancesAsync(ControlPlaneProcess controlPlane) =>
        [.. (await controlPlane.Client.GetServicesAsync(Cancel)).Services.SelectMany(s => s.Instances).Select(i => i.Id).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task NoToken_EveryRegistryWriteAndReport401_SayingWhatToSend_NothingRegistered()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RegistrationGuardTests).Assembly, null, NotOnLoopback);

        var mesh = await SendAsync(controlPlane, HttpMethod.Put, "v1/instances/catalog-1", Registration("catalog", 5001));
        var eureka = await SendAsync(controlPlane, HttpMethod.Post, "eureka/apps/CATALOG", EurekaInstance("CATALOG", "catalog-2"));
        var consul = await SendAsync(controlPlane, HttpMethod.Put, "v1/agent/service/register", """{"ID": "catalog-3", "Name": "catalog", "Address": "127.0.0.1", "Port": 5003}""");
        var report = await SendAsync(controlPlane, HttpMethod.Post, "v1/proxies/catalog-1/report", """{"kind": "sidecar", "name": "catalog", "appliedVersion": 1}""");
        using var challenge = await controlPlane.Http.PutAsync("v1/instances/catalog-1", Json(Registration("catalog", 5001)), Cancel);

        foreach (var (status, body) in new[] { mesh, eureka, consul, report })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Contains("needs a registration token", Detail(body), StringComparison.Ordinal);
            Assert.Contains("POST /v1/registration-tokens", Detail(body), StringComparison.Ordinal);
        }

        Assert.Equal("Bearer", challenge.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Empty(await InstancesAsync(controlPlane));
        await controlPlane.Process.WaitForLineAsync(@"Refused PUT /v1/agent/service/register from 127\.0\.0\.1: changing the registry", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ServiceToken_RegistersRenewsAndRemovesItsServicesInstances_ThroughEveryApi_NotAnotherServices()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RegistrationGuardTests).Assembly, null, NotOnLoopback);
        var catalog = await MintAsync(controlPlane, "catalog");
        var asBasic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"catalog:{catalog}"));

        var registered = await SendAsync(controlPlane, HttpMethod.Put, "v1/instances/catalog-1", Registration("catalog", 5001), Bearer(catalog));
        var renewed = await SendAsync(controlPlane, HttpMethod.Post, "v1/instances/catalog-1/heartbeat", """{"healthy": true}""", Bearer(catalog));
        var eureka = await SendAsync(controlPlane, HttpMethod.Post, "eureka/apps/CATALOG", EurekaInstance("CATALOG", "catalog-2"),
            h => h.Authorization = new AuthenticationHeaderValue("Basic", asBasic));
        var consul = await SendAsync(controlPlane, HttpMethod.Put, "v1/agent/service/register", """{"ID": "catalog-3", "Name": "catalog", "Address": "127.0.0.1", "Port": 5003}""",
            h => h.Add("X-Consul-Token", catalog));
        var consulPass = await SendAsync(controlPlane, HttpMethod.Put, $"v1/agent/check/pass/service:catalog-3?token={catalog}");
        var removed = await SendAsync(controlPlane, HttpMethod.Delete, "v1/instances/catalog-1", headers: Bearer(catalog));

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.NoContent, HttpStatusCode.NoContent, HttpStatusCode.OK), (registered.Status, renewed.Status, eureka.Status, consul.Status));
        // A check without a TTL is not found, whoever asks: past the guard.
        Assert.Equal(HttpStatusCode.NotFound, consulPass.Status);
        Assert.Equal(HttpStatusCode.NoContent, removed.Status);
        Assert.Equal(["catalog-2", "catalog-3"], await InstancesAsync(controlPlane));

        // Another service's name, or an instance another service has, whatever name the request gives.
        using (var admin = await controlPlane.Admin.PutAsync("v1/instances/orders-1", Json(Registration("orders", 6001)), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        }

        var asOrders = await SendAsync(controlPlane, HttpMethod.Put, "v1/instances/orders-2", Registration("orders", 6002), Bearer(catalog));
        var takeOver = await SendAsync(controlPlane, HttpMethod.Put, "v1/instances/orders-1", Registration("catalog", 5009), Bearer(catalog));
        var renewOthers = await SendAsync(controlPlane, HttpMethod.Post, "v1/instances/orders-1/heartbeat", """{"healthy": false}""", Bearer(catalog));
        var removeOthers = await SendAsync(controlPlane, HttpMethod.Delete, "v1/instances/orders-1", headers: Bearer(catalog));
        var eurekaOthers = await SendAsync(controlPlane, HttpMethod.Delete, "eureka/apps/ORDERS/orders-1", headers: Bearer(catalog));
        var consulOthers = await SendAsync(controlPlane, HttpMethod.Put, "v1/agent/service/deregister/orders-1", headers: h => h.Add("X-Consul-Token", catalog));

        Assert.Equal(HttpStatusCode.Forbidden, asOrders.Status);
        Assert.Contains("the registration token is for service 'catalog', not 'orders'", Detail(asOrders.Body), StringComparison.Ordinal);
        foreach (var (status, body) in new[] { takeOver, renewOthers, removeOthers, eurekaOthers, consulOthers })
        {
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Contains("is an instance of 'orders'", Detail(body), StringComparison.Ordinal);
        }

        Assert.Equal(["catalog-2", "catalog-3", "orders-1"], await InstancesAsync(controlPlane));
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("orders-1"));
    }

    [Fact]
    public async Task MintingTokens_NeedsTheAdminToken_AndAServiceName()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RegistrationGuardTests).Assembly, null, NotOnLoopback);

        var anonymous = await SendAsync(controlPlane, HttpMethod.Post, "v1/registration-tokens", """{"service": "catalog"}""");
        using var badName = await controlPlane.Admin.PostAsync("v1/registration-tokens", Json("""{"service": "Catalog_1"}"""), Cancel);
        using var unknownMember = await controlPlane.Admin.PostAsync("v1/registration-tokens", Json("""{"service": "catalog", "instance": "catalog-1"}"""), Cancel);
        using var forever = await controlPlane.Admin.PostAsync("v1/registration-tokens", Json("""{"service": "catalog", "lifetimeSeconds": 1e20}"""), Cancel);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.Status);
        Assert.Equal(HttpStatusCode.BadRequest, badName.StatusCode);
        Assert.Contains("'Catalog_1' is not a valid service name", Detail(await badName.Content.ReadAsStringAsync(Cancel)), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, unknownMember.StatusCode);
        Assert.Contains("instance", await unknownMember.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, forever.StatusCode);
        Assert.Contains("lifetimeSeconds must be between 1 and 31622400", Detail(await forever.Content.ReadAsStringAsync(Cancel)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProxyCertificate_ComesWithATokenForItsOwnInstance_ItRegistersAndReportsAsThatProxyOnly()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RegistrationGuardTests).Assembly, null, NotOnLoopback);
        var token = await ProxyTokenAsync(controlPlane, ProxyKinds.Sidecar, "catalog", "catalog-7");
        var credential = new Credential(token);
        var proxy = new ControlPlaneClient(controlPlane.Http, credential);

        await proxy.RegisterAsync("catalog-7", new InstanceRegistration("catalog", "http://127.0.0.1:5007", true), Cancel);
        Assert.True(await proxy.HeartbeatAsync("catalog-7", new Heartbeat(true), Cancel));
        await proxy.ReportAsync("catalog-7", new ProxyReport(ProxyKinds.Sidecar, "catalog", 1, null, null), Cancel);
        var otherInstance = await Assert.ThrowsAsync<ControlPlaneException>(() =>
            proxy.RegisterAsync("catalog-8", new InstanceRegistration("catalog", "http://127.0.0.1:5008", true), Cancel));
        var asGateway = await Assert.ThrowsAsync<ControlPlaneException>(() =>
            proxy.ReportAsync("catalog-7", new ProxyReport(ProxyKinds.Gateway, "catalog", 1, null, null), Cancel));

        Assert.StartsWith("amr1.", token, StringComparison.Ordinal);
        Assert.Equal(["catalog-7"], await InstancesAsync(controlPlane));
        Assert.Equal(HttpStatusCode.Forbidden, otherInstance.StatusCode);
        Assert.Contains("the registration token is for instance 'catalog-7', not 'catalog-8'", Detail(otherInstance.Message), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, asGateway.StatusCode);
        Assert.Contains("not gateway 'catalog''s", Detail(asGateway.Message), StringComparison.Ordinal);
        // Each 403 told the proxy its token was refused (one kept from a run under another id renews for a new one).
        Assert.Equal(2, credential.Refusals);
    }

    [Fact]
    public async Task Report_UnderTheIdOfAnotherWorkloadsProxyStillWatching_OrWithAnApplicationsToken_Refused()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RegistrationGuardTests).Assembly, null, NotOnLoopback);
        async Task<ControlPlaneClient> ProxyAsync(string kind, string name, string instance) =>
            new(controlPlane.Http, new Credential(await ProxyTokenAsync(controlPlane, kind, name, instance)));

        var sidecar = await ProxyAsync(ProxyKinds.Sidecar, "orders", "orders-1");
        // A gateway's certificate, asked for under the sidecar's id.
        var gateway = await ProxyAsync(ProxyKinds.Gateway, "edge", "orders-1");
        var application = new ControlPlaneClient(controlPlane.Http, new Credential(await controlPlane.MintRegistrationTokenAsync("orders")));
        var current = (await sidecar.WatchAsync(ProxyKinds.Sidecar, "orders", "orders-1", 0, Cancel))!.Snapshot.Version;
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        // The sidecar's long poll, open until the end of the test.
        var watching = sidecar.WatchAsync(ProxyKinds.Sidecar, "orders", "orders-1", current, stopWatching.Token);
        await sidecar.ReportAsync("orders-1", new ProxyReport(ProxyKinds.Sidecar, "orders", current, null, null) { AdminAddress = "http://127.0.0.1:7001" }, Cancel);
        await Eventually.UntilAsync(async () => (await controlPlane.Admin.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel))!.Proxies
            .Any(p => p is { Id: "orders-1", Watching: true }), TimeSpan.FromSeconds(10), () => "orders-1 to be watching");

        var asGateway = await Assert.ThrowsAsync<ControlPlaneException>(() =>
            gateway.ReportAsync("orders-1", new ProxyReport(ProxyKinds.Gateway, "edge", current, null, null) { AdminAddress = "http://127.0.0.1:9999" }, Cancel));
        var asApplication = await Assert.ThrowsAsync<ControlPlaneException>(() =>
            application.ReportAsync("orders-1", new ProxyReport(ProxyKinds.Sidecar, "orders", current, null, null), Cancel));
        // Nor does the gateway's watch under its id (its token is for that id) relabel it.
        Assert.NotNull(await gateway.WatchAsync(ProxyKinds.Gateway, "edge", "orders-1", 0, Cancel));

        var proxy = (await controlPlane.Admin.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel))!.Proxies.Single(p => p.Id == "orders-1");
        await stopWatching.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);

        Assert.Equal(HttpStatusCode.Forbidden, asGateway.StatusCode);
        Assert.Contains("proxy 'orders-1' is sidecar 'orders''s, which is still watching", Detail(asGateway.Message), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, asApplication.StatusCode);
        Assert.Contains("the registration token is service 'orders''s, not sidecar 'orders''s", Detail(asApplication.Message), StringComparison.Ordinal);
        Assert.Equal((ProxyKinds.Sidecar, "orders", "http://127.0.0.1:7001"), (proxy.Kind, proxy.Name, proxy.AdminAddress));
    }

    [Fact]
    public async Task Watch_FromElsewhere_OnlyWithTheProxysOwnToken()
    {
        // A snapshot carries the workload's routes, policies and the addresses of what it may call.
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RegistrationGuardTests).Assembly, null, NotOnLoopback);
        var proxyToken = await ProxyTokenAsync(controlPlane, ProxyKinds.Sidecar, "catalog", "catalog-1");
        var application = await MintAsync(controlPlane, "catalog");

        var anonymous = await SendAsync(controlPlane, HttpMethod.Get, "v1/watch/sidecar/catalog?proxy=catalog-1&version=0");
        var asApplication = await SendAsync(controlPlane, HttpMethod.Get, "v1/watch/sidecar/catalog?proxy=catalog-1&version=0", headers: Bearer(application));
        var asAnotherProxy = await SendAsync(controlPlane, HttpMethod.Get, "v1/watch/sidecar/catalog?proxy=catalog-2&version=0", headers: Bearer(proxyToken));
        var asAnotherService = await SendAsync(controlPlane, HttpMethod.Get, "v1/watch/sidecar/orders?proxy=catalog-1&version=0", headers: Bearer(proxyToken));
        var own = await new ControlPlaneClient(controlPlane.Http, new Credential(proxyToken)).WatchAsync(ProxyKinds.Sidecar, "catalog", "catalog-1", 0, Cancel);
        var admin = await SendAsync(controlPlane, HttpMethod.Get, "v1/watch/sidecar/orders?proxy=orders-1&version=0", headers: Bearer(ControlPlaneProcess.AdminToken));

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.Status);
        Assert.Contains("watching from outside the control plane's machine needs the proxy's registration token", Detail(anonymous.Body), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, asApplication.Status);
        Assert.Contains("the registration token is service 'catalog''s, not sidecar 'catalog''s (proxy 'catalog-1')", Detail(asApplication.Body), StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.Forbidden, HttpStatusCode.Forbidden), (asAnotherProxy.Status, asAnotherService.Status));
        Assert.NotNull(own);
        Assert.Equal(HttpStatusCode.OK, admin.Status);
        Assert.DoesNotContain("catalog-2", (await controlPlane.Admin.GetFromJsonAsync("v1/proxies", MeshJsonContext.Default.ProxyList, Cancel))!.Proxies.Select(p => p.Id));
    }

    [Fact]
    public async Task RevokedToken_RefusedFromThenOn_AlsoAfterARestart_RevokingNeedsTheAdminToken()
    {
        var state = Directory.CreateTempSubdirectory("aspiremesh-cp-").FullName;
        try
        {
            var port = Ports.FreeBelowEphemeral();
            string token;
            await using (var controlPlane = await ControlPlaneProcess.StartWithStateAsync(typeof(RegistrationGuardTests).Assembly, null, state, port, NotOnLoopback))
            {
                token = await MintAsync(controlPlane, "orders");
                var other = await MintAsync(controlPlane, "orders");
                var registered = await SendAsync(controlPlane, HttpMethod.Put, "v1/instances/orders-1", Registration("orders", 5001), Bearer(token));
                var withoutAdmin = await SendAsync(controlPlane, HttpMethod.Post, "v1/registration-tokens/revoke", $$"""{"token": "{{token}}"}""");
                var notAToken = await SendAsync(controlPlane, HttpMethod.Post, "v1/registration-tokens/revoke", """{"token": "amr1.nope"}""", Bearer(ControlPlaneProcess.AdminToken));
                var revoked = await SendAsync(controlPlane, HttpMethod.Post, "v1/registration-tokens/revoke", $$"""{"token": "{{token}}"}""", Bearer(ControlPlaneProcess.AdminToken));
                var heartbeat = await SendAsync(controlPlane, HttpMethod.Post, "v1/instances/orders-1/heartbeat", """{"healthy": true}""", Bearer(token));
                var otherHeartbeat = await SendAsync(controlPlane, HttpMethod.Post, "v1/instances/orders-1/heartbeat", """{"healthy": true}""", Bearer(other));

                Assert.Equal(HttpStatusCode.OK, registered.Status);
                Assert.Equal(HttpStatusCode.Unauthorized, withoutAdmin.Status);
                Assert.Equal(HttpStatusCode.BadRequest, notAToken.Status);
                Assert.Contains("token: the registration token is not in the form amr1.<payload>.<signature>", Detail(notAToken.Body), StringComparison.Ordinal);
                Assert.Equal(HttpStatusCode.OK, revoked.Status);
                var record = JsonDocument.Parse(revoked.Body).RootElement;
                Assert.Equal(("service", "orders"), (record.GetProperty("kind").GetString(), record.GetProperty("name").GetString()));
                Assert.Equal(HttpStatusCode.Unauthorized, heartbeat.Status);
                Assert.Contains($"the registration token {record.GetProperty("id").GetString()} was revoked at", Detail(heartbeat.Body), StringComparison.Ordinal);
                // Only that token: another of the same service still works.
                Assert.Equal(HttpStatusCode.NoContent, otherHeartbeat.Status);
            }

            await using var restarted = await ControlPlaneProcess.StartWithStateAsync(typeof(RegistrationGuardTests).Assembly, null, state, port, NotOnLoopback);
            var afterRestart = await SendAsync(restarted, HttpMethod.Put, "v1/instances/orders-1", Registration("orders", 5001), Bearer(token));
            Assert.Equal(HttpStatusCode.Unauthorized, afterRestart.Status);
            Assert.Contains("was revoked at", Detail(afterRestart.Body), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task TokensOfAnotherKindOrMesh_Refused_AndTheProxyIsToldItsTokenWasRefused()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RegistrationGuardTests).Assembly, null, NotOnLoopback);
        var bootstrap = ControlPlaneProcess.Credential(ProxyKinds.Sidecar, "catalog", "catalog-1");
        var foreign = RegistrationToken.Mint(BootstrapCredential.NewKey(), ProxyKinds.Sidecar, "catalog", "catalog-1", DateTimeOffset.UtcNow.AddHours(1));
        var expired = RegistrationToken.Mint(ControlPlaneProcess.BootstrapKey, ProxyKinds.Sidecar, "catalog", "catalog-1", DateTimeOffset.UtcNow.AddMinutes(-1));
        var registrationAsBootstrap = RegistrationToken.Mint(ControlPlaneProcess.BootstrapKey, ProxyKinds.Sidecar, "catalog", "catalog-1", DateTimeOffset.UtcNow.AddHours(1));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=catalog", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();

        var withBootstrap = await SendAsync(controlPlane, HttpMethod.Put, "v1/instances/catalog-1", Registration("catalog", 5001), Bearer(bootstrap));
        var withExpired = await SendAsync(controlPlane, HttpMethod.Put, "v1/instances/catalog-1", Registration("catalog", 5001), Bearer(expired));
        var credential = new Credential(foreign);
        var withForeign = await Assert.ThrowsAsync<ControlPlaneException>(() =>
            new ControlPlaneClient(controlPlane.Http, credential).RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true), Cancel));
        var certificateWithToken = await Assert.ThrowsAsync<ControlPlaneException>(() =>
            controlPlane.Client.RequestCertificateAsync(new CertificateSigningRequest(ProxyKinds.Sidecar, "catalog", "catalog-1", csr), registrationAsBootstrap, Cancel));

        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized), (withBootstrap.Status, withExpired.Status));
        Assert.Contains("the registration token is not in the form amr1.<payload>.<signature>", Detail(withBootstrap.Body), StringComparison.Ordinal);
        Assert.Contains("the registration token expired at", Detail(withExpired.Body), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, withForeign.StatusCode);
        Assert.Contains("the registration token was not issued for this mesh", Detail(withForeign.Message), StringComparison.Ordinal);
        Assert.Equal(1, credential.Refusals);
        Assert.Equal(HttpStatusCode.Forbidden, certificateWithToken.StatusCode);
        Assert.Contains("the bootstrap credential is not in the form amb1.", Detail(certificateWithToken.Message), StringComparison.Ordinal);
        Assert.Empty(await InstancesAsync(controlPlane));
    }

    [Fact]
    public async Task OpenRegistration_AnyoneRegistersAndReports_AsBeforeTokens()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(RegistrationGuardTests).Assembly, null, NotOnLoopback, "--ControlPlane:OpenRegistration=true");

        var registered = await SendAsync(controlPlane, HttpMethod.Put, "v1/instances/catalog-1", Registration("catalog", 5001));
        var reported = await SendAsync(controlPlane, HttpMethod.Post, "v1/proxies/catalog-1/report", """{"kind": "sidecar", "name": "catalog", "appliedVersion": 1}""");
        var admin = await SendAsync(controlPlane, HttpMethod.Get, "v1/proxies");

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.NoContent), (registered.Status, reported.Status));
        Assert.Equal(["catalog-1"], await InstancesAsync(controlPlane));
        // Only the registry opens: the admin API still needs its token.
        Assert.Equal(HttpStatusCode.Unauthorized, admin.Status);
    }

    private sealed class Credential(string? token) : IRegistrationCredential
    {
        public int Refusals { get; private set; }

        public string? RegistrationToken => token;

        public void RegistrationTokenRefused(HttpStatusCode status) => Refusals++;
    }
}
