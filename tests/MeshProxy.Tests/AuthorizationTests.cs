using System.Net;
using System.Text;
using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>A service's authorization policies, enforced by its own sidecar on the inbound side, between real sidecar processes.</summary>
public sealed class AuthorizationTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static MeshConfig Config(params AuthorizationPolicy[] policies) => new()
    {
        Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "admin", References = ["catalog"] }, new() { Name = "catalog" }],
        Policies = new() { Authorization = policies },
    };

    private static AuthorizationPolicy Allow(string name, params AuthorizationRule[] rules) => new() { Name = name, TargetRef = new() { Name = "catalog" }, Action = "Allow", Rules = rules };

    private static AuthorizationPolicy Deny(string name, params AuthorizationRule[] rules) => new() { Name = name, TargetRef = new() { Name = "catalog" }, Action = "Deny", Rules = rules };

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method, $"http://catalog{path}");
        foreach (var (name, value) in headers)
        {
            if (name == "content-type")
            {
                request.Content = new ByteArrayContent([]);
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
            else
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return await client.SendAsync(request, Cancel);
    }

    private static async Task<HttpStatusCode> StatusAsync(HttpClient client, string path)
    {
        using var response = await SendAsync(client, HttpMethod.Get, path);
        return response.StatusCode;
    }

    private static async Task<string> MetricsAsync(SidecarProcess sidecar)
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri(sidecar.Admin, "metrics"), Cancel);
    }

    private static async Task AssertDeniedAsync(HttpResponseMessage response, string deniedBy, string because, SidecarProcess callee)
    {
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"expected 403, got {(int)response.StatusCode}: {body}\nCallee:\n{callee.Process.Output}");
        Assert.Equal(MeshErrors.Denied, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.Equal(deniedBy, response.Headers.GetValues(MeshHeaders.DeniedBy).Single());
        Assert.StartsWith("denied: ", body, StringComparison.Ordinal);
        Assert.Contains(because, body, StringComparison.Ordinal);
        Assert.False(response.Headers.Contains(MeshHeaders.Instance), "a denied request must never reach an app");
    }

    [Fact]
    public async Task AllowPolicy_NamedServiceAllowed_OtherCallerDenied403CountedAndNeverReachesTheApp()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var adminApp = await TestBackend.StartAsync("admin-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(AuthorizationTests).Assembly,
            Config(Allow("catalog-callers", new AuthorizationRule { FromServices = ["frontend"] })));
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var admin = await SidecarProcess.StartAsync(controlPlane, "admin", "admin-1", adminApp.Url);
        using var fromFrontend = frontend.OutboundClient();
        using var fromAdmin = admin.OutboundClient();
        await Eventually.UntilAsync(async () => await StatusAsync(fromFrontend, "/items") == HttpStatusCode.OK, Deadline, "frontend to reach catalog");
        // admin's sidecar routes to catalog once it has its snapshot; from then on catalog's sidecar answers it.
        await Eventually.UntilAsync(async () => await StatusAsync(fromAdmin, "/probe") == HttpStatusCode.Forbidden, Deadline, "admin to be refused by catalog");

        using var denied = await SendAsync(fromAdmin, HttpMethod.Get, "/from-admin");
        using var grpc = await SendAsync(fromAdmin, HttpMethod.Post, "/catalog.Items/List", ("content-type", "application/grpc"));

        await AssertDeniedAsync(denied, "catalog-callers", "no allow policy of service 'catalog' (catalog-callers) allows GET /from-admin from 'admin'", catalog);
        Assert.True(grpc.Headers.TryGetValues("grpc-status", out var grpcStatus) && grpcStatus.Single() == "7", // PERMISSION_DENIED
            $"{(int)grpc.StatusCode} {grpc.Headers} {grpc.Content.Headers} {grpc.TrailingHeaders} {await grpc.Content.ReadAsStringAsync(Cancel)}");
        Assert.DoesNotContain(catalogApp.Requests, r => r.Contains("/from-admin", StringComparison.Ordinal) || r.Contains("/probe", StringComparison.Ordinal)
            || r.Contains("catalog.Items", StringComparison.Ordinal));
        Assert.Contains("GET /items", catalogApp.Requests);
        var metrics = await MetricsAsync(catalog);
        Assert.Contains("mesh_requests_total{direction=\"inbound\",source=\"admin\",destination=\"catalog\",route=\"\",code=\"4xx\",mesh_error=\"denied\"}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DenyPolicy_ByPathMethodOrHeader_DeniedEvenThoughAnAllowPolicyMatches()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(AuthorizationTests).Assembly, Config(
            Allow("catalog-callers", new AuthorizationRule { FromServices = ["frontend"] }),
            Deny("no-admin",
                new AuthorizationRule { Paths = ["/admin/*"] },
                new AuthorizationRule { Methods = ["DELETE"] },
                new AuthorizationRule { Headers = [new() { Name = "x-debug", Type = "RegularExpression", Value = "on|1" }] })));
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () => await StatusAsync(client, "/items") == HttpStatusCode.OK, Deadline, "frontend to reach catalog");

        using var byPath = await SendAsync(client, HttpMethod.Get, "/admin/users");
        using var byMethod = await SendAsync(client, HttpMethod.Delete, "/items/1");
        using var byHeader = await SendAsync(client, HttpMethod.Get, "/items", ("x-debug", "1"));
        using var otherHeaderValue = await SendAsync(client, HttpMethod.Get, "/items", ("x-debug", "off"));
        using var adminRoot = await SendAsync(client, HttpMethod.Get, "/administrator");

        await AssertDeniedAsync(byPath, "no-admin", "deny policy 'no-admin' of service 'catalog' refuses GET /admin/users from 'frontend'", catalog);
        await AssertDeniedAsync(byMethod, "no-admin", "refuses DELETE /items/1", catalog);
        await AssertDeniedAsync(byHeader, "no-admin", "refuses GET /items", catalog);
        Assert.Equal(HttpStatusCode.OK, otherHeaderValue.StatusCode);
        Assert.Equal(HttpStatusCode.OK, adminRoot.StatusCode);
        Assert.DoesNotContain(catalogApp.Requests, r => r.StartsWith("GET /admin/", StringComparison.Ordinal) || r.StartsWith("DELETE", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AllowPolicyWithoutRules_DeniesEveryCaller_UntilALiveChangeAllowsOne()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(AuthorizationTests).Assembly, Config(Allow("allow-nothing")));
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () => await StatusAsync(client, "/items") == HttpStatusCode.Forbidden, Deadline, "catalog to deny frontend");

        using var denied = await SendAsync(client, HttpMethod.Get, "/items");
        await AssertDeniedAsync(denied, "allow-nothing", "no allow policy of service 'catalog' (allow-nothing) allows GET /items from 'frontend'", catalog);
        Assert.DoesNotContain(catalogApp.Requests, r => r.StartsWith("GET /items", StringComparison.Ordinal));

        using var put = await controlPlane.Admin.PutAsync("v1/config", new StringContent("""
            services:
              - { name: frontend, references: [catalog] }
              - { name: admin, references: [catalog] }
              - name: catalog
            policies:
              authorization:
                - name: allow-nothing
                  targetRef: { name: catalog }
                - name: frontend-reads
                  targetRef: { name: catalog }
                  rules: [{ fromServices: [frontend], methods: [GET] }]
            """, Encoding.UTF8, "application/yaml"), Cancel);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        await Eventually.UntilAsync(async () => await StatusAsync(client, "/items") == HttpStatusCode.OK, Deadline, "the live change to let frontend's reads through");
        using var write = await SendAsync(client, HttpMethod.Post, "/items");
        await AssertDeniedAsync(write, "allow-nothing,frontend-reads", "(allow-nothing, frontend-reads) allows POST /items from 'frontend'", catalog);
    }

    [Fact]
    public async Task HealthProbes_OfTheBackendPolicysPath_PassAnAllowPolicyForOtherPaths_WhileOtherRequestsStayDenied()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var adminApp = await TestBackend.StartAsync("admin-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        var config = Config(Allow("frontend-items", new AuthorizationRule { FromServices = ["frontend"], Paths = ["/items*"] }));
        config.Policies.Backends = [HealthProbes.Every1s("catalog")];
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(AuthorizationTests).Assembly, config);
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        await using var admin = await SidecarProcess.StartAsync(controlPlane, "admin", "admin-1", adminApp.Url);
        using var fromFrontend = frontend.OutboundClient();
        using var fromAdmin = admin.OutboundClient();
        await Eventually.UntilAsync(async () => await StatusAsync(fromFrontend, "/items") == HttpStatusCode.OK, Deadline, "frontend to reach catalog");

        // The callers' sidecars probe catalog's instance every second (catalog's own sidecar checks its app on /health,
        // not through the policy); the policy names neither the path nor, for admin, the caller.
        await Eventually.UntilAsync(() => catalogApp.Requests.Count(r => r == "GET /ready") >= 2, Deadline, "the mesh's health probes to reach catalog's app");
        Assert.DoesNotContain("mesh_error=\"denied\"", await MetricsAsync(catalog), StringComparison.Ordinal);

        // Only a GET or HEAD of that path is a probe; the policy still holds for everything else.
        using var otherPath = await SendAsync(fromFrontend, HttpMethod.Get, "/orders");
        using var postToProbePath = await SendAsync(fromAdmin, HttpMethod.Post, "/ready");
        using var probePathPrefix = await SendAsync(fromAdmin, HttpMethod.Get, "/ready/details");
        await AssertDeniedAsync(otherPath, "frontend-items", "no allow policy of service 'catalog' (frontend-items) allows GET /orders from 'frontend'", catalog);
        await AssertDeniedAsync(postToProbePath, "frontend-items", "allows POST /ready from 'admin'", catalog);
        await AssertDeniedAsync(probePathPrefix, "frontend-items", "allows GET /ready/details from 'admin'", catalog);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(fromFrontend, "/items"));
    }

    [Fact]
    public async Task AuditMode_WouldDeny_RequestPassesAndIsLoggedAndCounted()
    {
        await using var frontendApp = await TestBackend.StartAsync("frontend-app");
        await using var catalogApp = await TestBackend.StartAsync("catalog-app");
        var audited = Deny("no-exports", new AuthorizationRule { Paths = ["/exports/*"] }) with { Mode = "Audit" };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(AuthorizationTests).Assembly, Config(audited));
        await using var catalog = await SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-1", catalogApp.Url);
        await using var frontend = await SidecarProcess.StartAsync(controlPlane, "frontend", "frontend-1", frontendApp.Url);
        using var client = frontend.OutboundClient();
        await Eventually.UntilAsync(async () => await StatusAsync(client, "/items") == HttpStatusCode.OK, Deadline, "frontend to reach catalog");

        using var exported = await SendAsync(client, HttpMethod.Get, "/exports/all");

        Assert.Equal(HttpStatusCode.OK, exported.StatusCode);
        Assert.Contains("GET /exports/all", catalogApp.Requests);
        await catalog.Process.WaitForLineAsync("Audit: authorization policy no-exports would deny GET /exports/all from frontend", Deadline);
        var metrics = await MetricsAsync(catalog);
        Assert.Contains("mesh_authz_audit_denials_total{source=\"frontend\",destination=\"catalog\",policy=\"no-exports\"} 1", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("mesh_error=\"denied\"", metrics, StringComparison.Ordinal);
    }
}
