using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;

namespace AspireMesh.ControlPlane.Tests.Api;

/// <summary>The config API (write, read, versions, rollback, plan, limits) against the real control-plane process.</summary>
public sealed class ConfigApiTests
{
    private const string Storefront = """
        services:
          - name: frontend
            references: [catalog]
          - name: catalog
        routes:
          - name: web
            parentRefs: [{ name: gateway }]
            rules:
              - backendRefs: [{ name: frontend }]
        """;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static StringContent Yaml(string text) => new(text, Encoding.UTF8, "application/yaml");

    private static Task<ControlPlaneProcess> StartAsync() => ControlPlaneProcess.StartAsync(typeof(ConfigApiTests).Assembly);

    private static async Task<MeshProblem> ProblemAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.MeshProblem, Cancel))!;

    private static async Task<ConfigWriteResult> PutAsync(ControlPlaneProcess controlPlane, string yaml, long? ifMatch = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, "v1/config") { Content = Yaml(yaml) };
        if (ifMatch is { } version)
        {
            request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{version}\""));
        }

        using var response = await controlPlane.Admin.SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.ConfigWriteResult, Cancel))!;
    }

    [Fact]
    public async Task Put_ValidYaml_NewVersionReadableAsJsonAndYaml()
    {
        await using var controlPlane = await StartAsync();

        var written = await PutAsync(controlPlane, Storefront);

        Assert.Equal((1L, false), (written.Version, written.Unchanged));
        using var json = await controlPlane.Http.GetAsync("v1/config", Cancel);
        Assert.Equal("\"1\"", json.Headers.ETag!.Tag);
        Assert.Contains("\"references\":[\"catalog\"]", await json.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        using var request = new HttpRequestMessage(HttpMethod.Get, "v1/config");
        request.Headers.Accept.ParseAdd("application/yaml");
        using var yaml = await controlPlane.Http.SendAsync(request, Cancel);
        Assert.Equal("application/yaml", yaml.Content.Headers.ContentType!.MediaType);
        Assert.Contains("- name: frontend", await yaml.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_InlineConfigSetting_AppliedAsFirstVersion()
    {
        // What a published Aspire manifest gives the control plane (ControlPlane__Config): the document itself, no file.
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConfigApiTests).Assembly, null,
            """--ControlPlane:Config={"services":[{"name":"catalog"},{"name":"frontend","references":["catalog"]}]}""");

        using var json = await controlPlane.Http.GetAsync("v1/config", Cancel);
        Assert.Equal("\"1\"", json.Headers.ETag!.Tag);
        Assert.Contains("\"references\":[\"catalog\"]", await json.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Put_SameDocumentAgain_NoNewVersion()
    {
        await using var controlPlane = await StartAsync();
        await PutAsync(controlPlane, Storefront);

        var again = await PutAsync(controlPlane, Storefront);

        Assert.Equal((1L, true), (again.Version, again.Unchanged));
    }

    [Fact]
    public async Task Put_WithoutOrWithWrongToken_401AndNothingApplied()
    {
        await using var controlPlane = await StartAsync();

        using var anonymous = await controlPlane.Http.PutAsync("v1/config", Yaml(Storefront), Cancel);
        using var wrong = new HttpRequestMessage(HttpMethod.Put, "v1/config") { Content = Yaml(Storefront) };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "guess");
        using var guessed = await controlPlane.Http.SendAsync(wrong, Cancel);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Contains("Authorization: Bearer", (await ProblemAsync(anonymous)).Detail, StringComparison.Ordinal);
        Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, guessed.StatusCode);
        Assert.Equal("the admin token is not valid.", (await ProblemAsync(guessed)).Detail);
        using var current = await controlPlane.Http.GetAsync("v1/config", Cancel);
        Assert.Equal("\"0\"", current.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task Put_InvalidConfig_422ListsEveryErrorAndPreviousKeepsServing()
    {
        await using var controlPlane = await StartAsync();
        await PutAsync(controlPlane, Storefront);

        using var response = await controlPlane.Admin.PutAsync("v1/config", Yaml("""
            services:
              - name: catalog
              - name: catalog
            routes:
              - name: web
                parentRefs: [{ name: gateway }]
                rules:
                  - matches: [{ path: { type: RegularExpression, value: "(" } }]
                    backendRefs: [{ name: payments, weight: 0 }]
                    timeouts: { request: 0s }
            """), Cancel);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.Equal(
            ["services[1].name", "routes[0].rules[0].matches[0].path.value", "routes[0].rules[0].backendRefs[0].name",
             "routes[0].rules[0].backendRefs", "routes[0].rules[0].timeouts.request"],
            problem.Errors!.Select(e => e.Path));
        using var current = await controlPlane.Http.GetAsync("v1/config", Cancel);
        Assert.Equal("\"1\"", current.Headers.ETag!.Tag);
        Assert.Contains("frontend", await current.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("services: [{ name: catalog, replicas: 2 }]", "services[0].replicas", "unknown field 'replicas'")]
    [InlineData("services:\n  - name: catalog\n   bad indent: [", "$", "malformed YAML at line")]
    [InlineData("routes: 7", "routes", "expected a list")]
    public async Task Put_UnreadableDocument_400NamingWhereAndWhy(string yaml, string path, string reason)
    {
        await using var controlPlane = await StartAsync();

        using var response = await controlPlane.Admin.PutAsync("v1/config", Yaml(yaml), Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = Assert.Single((await ProblemAsync(response)).Errors!);
        Assert.Equal(path, error.Path);
        Assert.StartsWith(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Put_StaleIfMatch_409AndCurrentIfMatch_Accepted()
    {
        await using var controlPlane = await StartAsync();
        await PutAsync(controlPlane, Storefront);
        await PutAsync(controlPlane, Storefront.Replace("- name: catalog", "- name: catalog\n  - name: inventory", StringComparison.Ordinal));

        using var stale = new HttpRequestMessage(HttpMethod.Put, "v1/config") { Content = Yaml(Storefront) };
        stale.Headers.IfMatch.Add(new EntityTagHeaderValue("\"1\""));
        using var response = await controlPlane.Admin.SendAsync(stale, Cancel);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("the current version is 2", (await ProblemAsync(response)).Detail, StringComparison.Ordinal);
        Assert.Equal(3, (await PutAsync(controlPlane, Storefront, ifMatch: 2)).Version);
    }

    [Fact]
    public async Task Put_OversizeBody_413()
    {
        await using var controlPlane = await StartAsync();

        using var response = await controlPlane.Admin.PutAsync("v1/config", Yaml("services: []\n" + new string('#', 1024 * 1024 + 10)), Cancel);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Put_FloodOfWrites_RefusedWith429AndRetryAfterLastGoodIntact()
    {
        await using var controlPlane = await StartAsync();
        var statuses = new List<HttpStatusCode>();
        string? retryAfter = null;

        for (var i = 0; i < 60; i++)
        {
            using var response = await controlPlane.Admin.PutAsync("v1/config", Yaml(Storefront + $"\n# write {i}\n" + (i % 2 == 0 ? "" : "policies: {}")), Cancel);
            statuses.Add(response.StatusCode);
            retryAfter ??= response.Headers.RetryAfter?.ToString();
        }

        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        Assert.Contains(HttpStatusCode.OK, statuses);
        Assert.Equal("1", retryAfter);
        using var current = await controlPlane.Http.GetAsync("v1/config", Cancel);
        Assert.Equal(HttpStatusCode.OK, current.StatusCode);
        Assert.Contains("frontend", await current.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rollback_EarlierVersion_ServedAgainAsNewVersion()
    {
        await using var controlPlane = await StartAsync();
        await PutAsync(controlPlane, Storefront);
        await PutAsync(controlPlane, "services: [{ name: solo }]");

        using var response = await controlPlane.Admin.PostAsJsonAsync("v1/config/rollback", new RollbackRequest(1), MeshJsonContext.Default.RollbackRequest, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.ConfigWriteResult, Cancel))!.Version);
        Assert.Contains("frontend", await controlPlane.Http.GetStringAsync("v1/config", Cancel), StringComparison.Ordinal);
        var versions = await controlPlane.Http.GetFromJsonAsync("v1/config/versions", MeshJsonContext.Default.ConfigVersionList, Cancel);
        Assert.Equal([(3L, "rollback to 1", true), (2L, "api", false), (1L, "api", false)], versions!.Versions.Select(v => (v.Version, v.Source, v.Current)));
    }

    [Fact]
    public async Task Rollback_UnknownVersion_404ListingKeptOnes()
    {
        await using var controlPlane = await StartAsync();
        await PutAsync(controlPlane, Storefront);

        using var response = await controlPlane.Admin.PostAsJsonAsync("v1/config/rollback", new RollbackRequest(42), MeshJsonContext.Default.RollbackRequest, Cancel);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("config version 42 is not kept; kept versions: 1.", (await ProblemAsync(response)).Detail);
    }

    [Fact]
    public async Task Plan_Candidate_ListsChangesPerProxyAndAppliesNothing()
    {
        await using var controlPlane = await StartAsync();
        await PutAsync(controlPlane, Storefront);

        using var response = await controlPlane.Admin.PostAsync("v1/config/plan", Yaml("""
            services:
              - name: frontend
                references: [catalog, inventory]
              - name: catalog
              - name: inventory
            routes:
              - name: web
                parentRefs: [{ name: gateway }]
                rules:
                  - matches: [{ path: { type: PathPrefix, value: /shop } }]
                    backendRefs: [{ name: frontend }]
            policies:
              authorization:
                - name: catalog-callers
                  targetRef: { name: catalog }
                  rules: [{ fromServices: [frontend] }]
            """), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var plan = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.ConfigPlan, Cancel))!;
        Assert.Equal(1, plan.BaseVersion);
        var frontend = plan.Proxies.Single(p => p is { Kind: "sidecar", Name: "frontend" });
        Assert.Equal(["service/inventory"], frontend.Routes.Added);
        Assert.Equal(["inventory"], frontend.Backends.Added);
        var catalog = plan.Proxies.Single(p => p is { Kind: "sidecar", Name: "catalog" });
        Assert.Equal(["authorization/catalog-callers"], catalog.Policies.Added);
        var gateway = plan.Proxies.Single(p => p is { Kind: "gateway", Name: "gateway" });
        Assert.Equal(["web/rules/0/matches/0"], gateway.Routes.Changed);
        // inventory was not declared, so its sidecar could call every service; declared without references, it may call none.
        Assert.Equal(["service/catalog", "service/frontend"], plan.Proxies.Single(p => p is { Kind: "sidecar", Name: "inventory" }).Routes.Removed);
        using var current = await controlPlane.Http.GetAsync("v1/config", Cancel);
        Assert.Equal("\"1\"", current.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task Plan_NewClaimHeader_ChangesWhatEveryProxyRemoves()
    {
        await using var controlPlane = await StartAsync();
        await PutAsync(controlPlane, Storefront);

        using var response = await controlPlane.Admin.PostAsync("v1/config/plan", Yaml(Storefront + "\n" + """
            policies:
              authentication:
                - name: edge-jwt
                  targetRef: { kind: Gateway, name: gateway }
                  jwt:
                    jwksUri: https://id.example/jwks
                    claimsToHeaders: [{ claim: email, header: x-user-email }]
            """), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var plan = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.ConfigPlan, Cancel))!;
        // Sidecars remove the new header from callers other than gateways; the gateway from its clients.
        Assert.All(plan.Proxies, p => Assert.Equal(["gatewayIdentityHeaders"], p.Policies.Changed));
        Assert.Contains(plan.Proxies, p => p is { Kind: "sidecar", Name: "catalog" });
        Assert.Contains(plan.Proxies, p => p is { Kind: "gateway", Name: "gateway" });
    }

    [Fact]
    public async Task Plan_ServiceAuthentication_AddedToThatServicesSidecarOnly()
    {
        await using var controlPlane = await StartAsync();
        await PutAsync(controlPlane, Storefront);

        using var response = await controlPlane.Admin.PostAsync("v1/config/plan", Yaml(Storefront + "\n" + """
            policies:
              authentication:
                - name: catalog-users
                  targetRef: { kind: Service, name: catalog }
                  jwt:
                    jwksUri: https://id.example/jwks
            """), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var plan = (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.ConfigPlan, Cancel))!;
        var catalog = plan.Proxies.Single(p => p is { Kind: "sidecar", Name: "catalog" });
        Assert.Equal(["authentication/catalog-users"], catalog.Policies.Added);
        Assert.All(plan.Proxies.Where(p => p != catalog), p => Assert.DoesNotContain("authentication/catalog-users", p.Policies.Added));
    }

    [Fact]
    public async Task Restart_SameStateDirectory_ConfigAndHistorySurvive()
    {
        var state = Directory.CreateTempSubdirectory("aspiremesh-cp-").FullName;
        try
        {
            await using (var first = await ControlPlaneProcess.StartWithStateAsync(typeof(ConfigApiTests).Assembly, null, state, null))
            {
                await PutAsync(first, Storefront);
                await PutAsync(first, "services: [{ name: solo }]");
                first.Process.Kill();
            }

            await using var second = await ControlPlaneProcess.StartWithStateAsync(typeof(ConfigApiTests).Assembly, null, state, null);
            using var current = await second.Http.GetAsync("v1/config", Cancel);
            Assert.Equal("\"2\"", current.Headers.ETag!.Tag);
            Assert.Contains("solo", await current.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
            var versions = await second.Http.GetFromJsonAsync("v1/config/versions", MeshJsonContext.Default.ConfigVersionList, Cancel);
            Assert.Equal([2L, 1L], versions!.Versions.Select(v => v.Version));
            Assert.Contains("serving config version 2 restored", second.Process.Output, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task Start_NoTokenConfigured_GeneratesOneShownOnceAndKeepsIt()
    {
        var state = Directory.CreateTempSubdirectory("aspiremesh-cp-").FullName;
        var assembly = BuiltProjects.Assembly(typeof(ConfigApiTests).Assembly, "ControlPlane.csproj");
        var environment = new Dictionary<string, string> { ["ASPIREMESH_ADMIN_TOKEN"] = "" };
        try
        {
            string token;
            await using (var first = await TestProcess.StartDotnetAsync("controlplane", assembly, ["--urls", $"http://127.0.0.1:{Ports.FreeBelowEphemeral()}", "--state-dir", state], environment))
            {
                token = (await first.WaitForLineAsync(@"^Admin token \(shown once; kept in .+\): (\S+)$", TimeSpan.FromSeconds(60))).Groups[1].Value;
            }

            var port = Ports.FreeBelowEphemeral();
            await using var second = await TestProcess.StartDotnetAsync("controlplane", assembly, ["--urls", $"http://127.0.0.1:{port}", "--state-dir", state], environment);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            await Eventually.UntilAsync(async () => (await http.GetAsync("health", Cancel)).IsSuccessStatusCode, TimeSpan.FromSeconds(60), "the control plane to start");
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.PutAsync("v1/config", Yaml(Storefront), Cancel);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.DoesNotContain("Admin token", second.Output, StringComparison.Ordinal);
            Assert.Equal(token, (await File.ReadAllTextAsync(Path.Combine(state, "admin-token"), Cancel)).Trim());
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
