using System.Net;
using System.Text;
using System.Text.Json;
using AspireMesh.Contracts.Registry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ControlPlane.Tests.Api;

/// <summary>
/// The control plane's Consul API against the real process, with the requests Steeltoe.Discovery.Consul sends; the
/// node-consul client itself runs in the sidecar's interop tests.
/// </summary>
public sealed class ConsulApiTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    // As Steeltoe registers: a TTL check, critical until its first pass, deregistered after 30 minutes critical.
    private const string SteeltoeBody = """
        {"ID": "orders-1", "Name": "orders", "Tags": ["v1"], "Address": "127.0.0.1", "Port": 5001, "Meta": {"zone": "a", "secure": "false"},
         "EnableTagOverride": false, "Check": {"TTL": "30s", "DeregisterCriticalServiceAfter": "30m0s"}}
        """;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task PutAsync(ControlPlaneProcess controlPlane, string path, string? body = null)
    {
        using var response = await controlPlane.Http.PutAsync(path, body is null ? null : Json(body), Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Cancel)}");
    }

    private static async Task<(JsonElement Body, long Index)> GetAsync(ControlPlaneProcess controlPlane, string path)
    {
        using var response = await controlPlane.Http.GetAsync(path, Cancel);
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {body}");
        Assert.Equal("true", response.Headers.GetValues("X-Consul-KnownLeader").Single());
        return (JsonDocument.Parse(body).RootElement.Clone(), response.Headers.TryGetValues("X-Consul-Index", out var index) ? long.Parse(index.Single()) : 0);
    }

    [Fact]
    public async Task Register_SteeltoeBody_CriticalUntilTheFirstPass_ThenPassingAndHealthyInTheMesh()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);

        await PutAsync(controlPlane, "v1/agent/service/register", SteeltoeBody);

        Assert.Equal(0, (await GetAsync(controlPlane, "v1/health/service/orders?passing=1")).Body.GetArrayLength());
        var entry = (await GetAsync(controlPlane, "v1/health/service/orders")).Body[0];
        Assert.Equal(("orders-1", "orders", "127.0.0.1", 5001), (entry.GetProperty("Service").GetProperty("ID").GetString(), entry.GetProperty("Service").GetProperty("Service").GetString(),
            entry.GetProperty("Service").GetProperty("Address").GetString(), entry.GetProperty("Service").GetProperty("Port").GetInt32()));
        Assert.Equal(("aspiremesh", "dc1"), (entry.GetProperty("Node").GetProperty("Node").GetString(), entry.GetProperty("Node").GetProperty("Datacenter").GetString()));
        var check = Assert.Single(entry.GetProperty("Checks").EnumerateArray());
        Assert.Equal(("service:orders-1", "critical", "ttl"), (check.GetProperty("CheckID").GetString(), check.GetProperty("Status").GetString(), check.GetProperty("Type").GetString()));
        Assert.Equal(InstanceHealth.Unhealthy, await controlPlane.HealthOfAsync("orders-1"));

        await PutAsync(controlPlane, "v1/agent/check/pass/service:orders-1?note=ok");

        var passing = Assert.Single((await GetAsync(controlPlane, "v1/health/service/orders?passing=true")).Body.EnumerateArray());
        Assert.Equal(("passing", "ok"), (passing.GetProperty("Checks")[0].GetProperty("Status").GetString(), passing.GetProperty("Checks")[0].GetProperty("Output").GetString()));
        Assert.Equal("""{"secure":"false","zone":"a"}""", passing.GetProperty("Service").GetProperty("Meta").GetRawText());
        var meshInstance = Assert.Single((await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "orders").Instances);
        Assert.Equal(("orders-1", "http://127.0.0.1:5001", InstanceHealth.Healthy), (meshInstance.Id, meshInstance.Address, meshInstance.Health));
        Assert.Equal("""{"orders":["v1"]}""", (await GetAsync(controlPlane, "v1/catalog/services")).Body.GetRawText());
        Assert.Equal(5001, (await GetAsync(controlPlane, "v1/catalog/service/orders")).Body[0].GetProperty("ServicePort").GetInt32());
    }

    [Fact]
    public async Task Ttl_NoPass_TurnsCritical_ThenDeregisteredAfterDeregisterCriticalServiceAfter()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register",
            """{"Name": "orders", "Address": "127.0.0.1", "Port": 5001, "Check": {"TTL": "3s", "Status": "passing", "DeregisterCriticalServiceAfter": "10s"}}""");
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("orders"));

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders") == InstanceHealth.Unhealthy, Deadline, "the TTL to run out");
        Assert.Equal("its Consul check is critical: TTL expired: no pass within 3 s", await controlPlane.ReasonOfAsync("orders"));
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders") is null, Deadline, "the critical instance to be deregistered");

        using var pass = await controlPlane.Http.PutAsync("v1/agent/check/pass/service:orders", null, Cancel);
        Assert.Equal(HttpStatusCode.NotFound, pass.StatusCode);
    }

    [Theory]
    [InlineData("""{"Address": "127.0.0.1", "Port": 1}""", "Missing service name")]
    [InlineData("""{"Name": "Orders_Svc", "Address": "127.0.0.1", "Port": 1}""", "Service name Orders_Svc cannot name a mesh service")]
    [InlineData("""{"Name": "orders", "Port": 1}""", "Missing service address")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 0}""", "Service port 0 is not a TCP port")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Check": {"GRPC": "127.0.0.1:1", "Interval": "10s"}}""", "Only TTL, HTTP and TCP checks are supported; a GRPC check is not.")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Check": {"HTTP": "http://169.254.169.254/latest/meta-data", "Interval": "10s"}}""",
        "Check.HTTP 'http://169.254.169.254/latest/meta-data' calls host '169.254.169.254', not the instance's Address '127.0.0.1': the control plane probes only the instance itself.")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Check": {"TCP": "127.0.0.1:1"}}""", "Check.Interval is required for a TCP check.")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Check": {"HTTP": "ftp://127.0.0.1/x", "Interval": "1s"}}""", "Check.HTTP 'ftp://127.0.0.1/x' is not an http:// or https:// URL.")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Check": {"TTL": "ten"}}""", "Check.TTL 'ten' is not a duration")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Checks": [{"TTL": "1s"}, {"TTL": "2s"}]}""", "Only one check per service")]
    [InlineData("""{"Name": "orders", """, "Request decode failed")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Check": {"HTTP": "http://127.0.0.1:1/", "Interval": "1s", "Body": {"a": 1}}}""", "Check.Body {\"a\": 1} is not a string.")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Check": {"HTTP": "http://127.0.0.1:1/", "Interval": "1s", "DisableRedirects": "yes"}}""", "Check.DisableRedirects \"yes\" is not true or false.")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Check": {"HTTP": "https://127.0.0.1:1/", "Interval": "1s", "TLSServerName": "not a name"}}""", "Check.TLSServerName 'not a name' is not a host name.")]
    [InlineData("""{"Name": "orders", "Address": "127.0.0.1", "Port": 1, "Check": {"HTTP": "http://127.0.0.1:1/", "Interval": "1s", "Body": "x", "Header": {"Content-Length": ["5"]}}}""", "Check.Header may not set Content-Length")]
    public async Task Register_Invalid_400WithTheReason_NothingRegistered(string body, string reason)
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);

        using var response = await controlPlane.Http.PutAsync("v1/agent/service/register", Json(body), Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith(reason, await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Empty((await controlPlane.GetServicesAsync()).Services.SelectMany(s => s.Instances));
    }

    [Fact]
    public async Task HttpCheck_TheControlPlaneCallsTheInstance_PassingOn2xx_WarningOn429_CriticalOtherwise()
    {
        // Spring Cloud Consul's default: an HTTP check of the app's health endpoint.
        await using var app = await TestBackend.StartAsync("orders-app");
        var answer = HttpStatusCode.OK;
        string? header = null;
        var firstAnswer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Handler = async context =>
        {
            await firstAnswer.Task.WaitAsync(Cancel);
            header = context.Request.Headers["X-Probe"];
            context.Response.StatusCode = (int)answer;
            await context.Response.WriteAsync($"status {(int)answer}", Cancel);
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-1", "Name": "orders", "Address": "127.0.0.1", "Port": {{{app.Url.Port}}},
             "Check": {"HTTP": "{{{app.Url}}}actuator/health", "Interval": "1s", "Timeout": "2s", "Header": {"X-Probe": ["consul"]}} }
            """);

        // Critical until the first probe (held back here) has answered.
        Assert.Equal("its Consul check is critical: HTTP check not yet run", await controlPlane.ReasonOfAsync("orders-1"));
        firstAnswer.SetResult();
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-1") == InstanceHealth.Healthy, Deadline, "the HTTP check to pass");
        var check = (await GetAsync(controlPlane, "v1/health/checks/orders")).Body[0];
        Assert.Equal(("passing", "http"), (check.GetProperty("Status").GetString(), check.GetProperty("Type").GetString()));
        Assert.Equal($"HTTP GET {app.Url}actuator/health: 200 OK Output: status 200", check.GetProperty("Output").GetString());
        Assert.Equal("consul", header);

        answer = HttpStatusCode.TooManyRequests;
        await Eventually.UntilAsync(async () => (await GetAsync(controlPlane, "v1/health/checks/orders")).Body[0].GetProperty("Status").GetString() == "warning", Deadline, "a 429 to warn");
        Assert.Equal(InstanceHealth.Unhealthy, await controlPlane.HealthOfAsync("orders-1"));

        answer = HttpStatusCode.ServiceUnavailable;
        await Eventually.UntilAsync(async () => (await GetAsync(controlPlane, "v1/health/checks/orders")).Body[0].GetProperty("Status").GetString() == "critical", Deadline, "a 503 to be critical");
        Assert.Equal($"its Consul check is critical: HTTP GET {app.Url}actuator/health: 503 Service Unavailable Output: status 503", await controlPlane.ReasonOfAsync("orders-1"));

        // Not a TTL check: the client cannot pass it.
        using var pass = await controlPlane.Http.PutAsync("v1/agent/check/pass/service:orders-1", null, Cancel);
        Assert.Equal(HttpStatusCode.NotFound, pass.StatusCode);
    }

    [Fact]
    public async Task HttpAndTcpChecks_RegisteredFromElsewhere_NeverCallALocalAddress()
    {
        // Loopback counts as elsewhere here: a check must not have the control plane call itself (its admin API is open
        // on loopback), a cloud's metadata service or anything else local, whatever the host name resolves to.
        await using var app = await TestBackend.StartAsync("orders-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly, null, "--ControlPlane:OpenOnLoopback=false");
        var token = await controlPlane.MintRegistrationTokenAsync("orders");
        async Task RegisterAsync(string id, string address, string check)
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, "v1/agent/service/register")
            {
                Content = Json($$$"""{"ID": "{{{id}}}", "Name": "orders", "Address": "{{{address}}}", "Port": {{{app.Url.Port}}}, "Check": {{{check}}}}"""),
            };
            request.Headers.Add("X-Consul-Token", token);
            using var response = await controlPlane.Http.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await RegisterAsync("orders-1", "127.0.0.1", $$$"""{"HTTP": "http://127.0.0.1:{{{controlPlane.Url.Port}}}/v1/config", "Interval": "1s", "Status": "passing"}""");
        await RegisterAsync("orders-2", "localhost", $$$"""{"TCP": "localhost:{{{controlPlane.Url.Port}}}", "Interval": "1s", "Status": "passing"}""");

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-1") == InstanceHealth.Unhealthy && await controlPlane.HealthOfAsync("orders-2") == InstanceHealth.Unhealthy,
            Deadline, "both checks to be refused");
        Assert.Equal($"its Consul check is critical: HTTP GET http://127.0.0.1:{controlPlane.Url.Port}/v1/config: 127.0.0.1 is 127.0.0.1, a local address, which a check registered from another machine may not call",
            await controlPlane.ReasonOfAsync("orders-1"));
        Assert.StartsWith($"its Consul check is critical: TCP connect localhost:{controlPlane.Url.Port}: localhost is ", await controlPlane.ReasonOfAsync("orders-2"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task HttpCheck_ARedirectToAnotherAddress_IsNotFollowed_AndIsCritical()
    {
        await using var app = await TestBackend.StartAsync("orders-app");
        var elsewhere = 0;
        await using var other = await TestBackend.StartAsync("other");
        other.Handler = _ =>
        {
            Interlocked.Increment(ref elsewhere);
            return Task.CompletedTask;
        };
        app.Handler = context =>
        {
            context.Response.Redirect(new Uri(other.Url, "/health").ToString());
            return Task.CompletedTask;
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-1", "Name": "orders", "Address": "127.0.0.1", "Port": {{{app.Url.Port}}}, "Check": {"HTTP": "{{{app.Url}}}health", "Interval": "1s", "Status": "passing"}}
            """);

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-1") == InstanceHealth.Unhealthy, Deadline, "the redirect to be critical");
        Assert.StartsWith($"its Consul check is critical: HTTP GET {app.Url}health: 302 Found (the redirect to {other.Url}health is not followed: it leaves the instance's address)",
            await controlPlane.ReasonOfAsync("orders-1"), StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref elsewhere));
    }

    [Fact]
    public async Task HttpCheck_BodyMethodAndContentType_SentAsRegistered()
    {
        await using var app = await TestBackend.StartAsync("orders-app");
        var seen = new TaskCompletionSource<(string Method, string? ContentType, string Body)>(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Handler = async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            seen.TrySetResult((context.Request.Method, context.Request.ContentType, await reader.ReadToEndAsync(Cancel)));
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-1", "Name": "orders", "Address": "127.0.0.1", "Port": {{{app.Url.Port}}},
             "Check": {"HTTP": "{{{app.Url}}}health", "Method": "POST", "Body": "{\"deep\": true}", "Header": {"Content-Type": ["application/json"]}, "Interval": "1s"}}
            """);

        Assert.Equal(("POST", "application/json", """{"deep": true}"""), await seen.Task.WaitAsync(Deadline, Cancel));
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-1") == InstanceHealth.Healthy, Deadline, "the check to pass");
    }

    [Fact]
    public async Task HttpCheck_ARedirectWithinTheInstance_IsFollowed_UnlessDisableRedirects()
    {
        await using var app = await TestBackend.StartAsync("orders-app");
        app.Handler = context =>
        {
            if (context.Request.Path == "/health")
            {
                context.Response.Redirect("/health/ready");
                return Task.CompletedTask;
            }

            return context.Response.WriteAsync($"{context.Request.Method} {context.Request.Path}", Cancel);
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-1", "Name": "orders", "Address": "127.0.0.1", "Port": {{{app.Url.Port}}}, "Check": {"HTTP": "{{{app.Url}}}health", "Interval": "1s"}}
            """);
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-2", "Name": "orders", "Address": "127.0.0.1", "Port": {{{app.Url.Port}}}, "Check": {"HTTP": "{{{app.Url}}}health", "Interval": "1s", "DisableRedirects": true, "Status": "passing"}}
            """);

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-1") == InstanceHealth.Healthy && await controlPlane.HealthOfAsync("orders-2") == InstanceHealth.Unhealthy,
            Deadline, "the followed redirect to pass and the other to be critical");
        var checks = (await GetAsync(controlPlane, "v1/health/checks/orders")).Body.EnumerateArray().ToDictionary(c => c.GetProperty("ServiceID").GetString()!, c => c.GetProperty("Output").GetString());
        Assert.Equal($"HTTP GET {app.Url}health (redirected to {app.Url}health/ready): 200 OK Output: GET /health/ready", checks["orders-1"]);
        Assert.StartsWith($"HTTP GET {app.Url}health: 302 Found", checks["orders-2"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task HttpCheck_Redirected_AsksAgainWithGetAndNoBodyAfter301_AsItWasAfter307()
    {
        await using var app = await TestBackend.StartAsync("orders-app");
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, string>();
        app.Handler = async context =>
        {
            switch (context.Request.Path.Value)
            {
                case "/moved":
                    context.Response.Redirect("/moved-here", permanent: true);
                    return;
                case "/temporary":
                    context.Response.StatusCode = 307;
                    context.Response.Headers.Location = "/temporary-here";
                    return;
            }

            using var reader = new StreamReader(context.Request.Body);
            seen[context.Request.Path.Value!] = $"{context.Request.Method} length={context.Request.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} type={context.Request.ContentType ?? "none"} body={await reader.ReadToEndAsync(Cancel)}";
        };
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        foreach (var (id, path) in new[] { ("orders-1", "moved"), ("orders-2", "temporary") })
        {
            await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
                {"ID": "{{{id}}}", "Name": "orders", "Address": "127.0.0.1", "Port": {{{app.Url.Port}}},
                 "Check": {"HTTP": "{{{app.Url}}}{{{path}}}", "Method": "PUT", "Body": "xyz", "Header": {"Content-Type": ["text/plain"]}, "Interval": "1s"}}
                """);
        }

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-1") == InstanceHealth.Healthy && await controlPlane.HealthOfAsync("orders-2") == InstanceHealth.Healthy,
            Deadline, "both redirected checks to pass");
        Assert.Equal("GET length=none type=none body=", seen["/moved-here"]);
        Assert.Equal("PUT length=3 type=text/plain body=xyz", seen["/temporary-here"]);
    }

    [Fact]
    public async Task HttpsCheck_AsksForTLSServerName_AndVerifiesUnlessTLSSkipVerify()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=orders.internal", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var names = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
        names.AddDnsName("orders.internal");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        var asked = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder(new Microsoft.AspNetCore.Builder.WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        var port = Ports.FreeBelowEphemeral();
        var https = new Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions
        {
            ServerCertificateSelector = (_, name) =>
            {
                asked.Enqueue(name);
                return certificate;
            },
        };
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, port, o => o.UseHttps(https));
            k.Listen(IPAddress.IPv6Loopback, port, o => o.UseHttps(https));
        });
        await using var app = builder.Build();
        app.Run(context => context.Response.WriteAsync($"{context.Request.Host} ok", Cancel));
        await app.StartAsync(Cancel);
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-1", "Name": "orders", "Address": "127.0.0.1", "Port": {{{port}}},
             "Check": {"HTTP": "https://127.0.0.1:{{{port}}}/health", "Interval": "1s", "TLSServerName": "orders.internal", "TLSSkipVerify": true}}
            """);

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-1") == InstanceHealth.Healthy, Deadline, "the https check to pass");
        Assert.Contains("orders.internal", asked);
        Assert.Equal($"HTTP GET https://127.0.0.1:{port}/health: 200 OK Output: 127.0.0.1:{port} ok",
            (await GetAsync(controlPlane, "v1/health/checks/orders")).Body[0].GetProperty("Output").GetString());

        // An IPv6 literal, and a Host of the check's own: the request's Host, not the TLS name.
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-2", "Name": "orders", "Address": "::1", "Port": {{{port}}},
             "Check": {"HTTP": "https://[::1]:{{{port}}}/health", "Interval": "1s", "TLSSkipVerify": true, "Header": {"Host": ["orders.example"]} } }
            """);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-2") == InstanceHealth.Healthy, Deadline, "the IPv6 https check to pass");
        Assert.Equal($"HTTP GET https://[::1]:{port}/health: 200 OK Output: orders.example ok",
            (await GetAsync(controlPlane, "v1/health/checks/orders")).Body.EnumerateArray().Single(c => c.GetProperty("ServiceID").GetString() == "orders-2").GetProperty("Output").GetString());
        await PutAsync(controlPlane, "v1/agent/service/deregister/orders-2");

        // Verified by default: a certificate no CA of the system issued does not pass.
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-1", "Name": "orders", "Address": "127.0.0.1", "Port": {{{port}}},
             "Check": {"HTTP": "https://127.0.0.1:{{{port}}}/health", "Interval": "1s", "TLSServerName": "orders.internal"}}
            """);
        await Eventually.UntilAsync(async () => (await controlPlane.ReasonOfAsync("orders-1"))?.Contains("TLS", StringComparison.Ordinal) == true, Deadline, "the unverified certificate to be critical");
        Assert.Equal(InstanceHealth.Unhealthy, await controlPlane.HealthOfAsync("orders-1"));
        Assert.StartsWith($"its Consul check is critical: HTTP GET https://127.0.0.1:{port}/health: TLS handshake with orders.internal (TLSServerName) failed: ",
            await controlPlane.ReasonOfAsync("orders-1"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task HttpCheck_ReRegisteredUnchanged_KeepsItsState_NoFlap()
    {
        await using var app = await TestBackend.StartAsync("orders-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        var body = $$$"""{"ID": "orders-1", "Name": "orders", "Address": "127.0.0.1", "Port": {{{app.Url.Port}}}, "Check": {"HTTP": "{{{app.Url}}}health", "Interval": "1s"}}""";
        await PutAsync(controlPlane, "v1/agent/service/register", body);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-1") == InstanceHealth.Healthy, Deadline, "the HTTP check to pass");

        await PutAsync(controlPlane, "v1/agent/service/register", body);

        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("orders-1"));
    }

    [Fact]
    public async Task TcpCheck_NothingListening_Critical_ThenDeregisteredAfterDeregisterCriticalServiceAfter()
    {
        var closed = Ports.ClosedUrl();
        await using var app = await TestBackend.StartAsync("orders-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-1", "Name": "orders", "Address": "127.0.0.1", "Port": {{{app.Url.Port}}}, "Check": {"TCP": "127.0.0.1:{{{app.Url.Port}}}", "Interval": "1s"}}
            """);
        await PutAsync(controlPlane, "v1/agent/service/register", $$$"""
            {"ID": "orders-2", "Name": "orders", "Address": "127.0.0.1", "Port": {{{closed.Port}}},
             "Check": {"TCP": "127.0.0.1:{{{closed.Port}}}", "Interval": "1s", "Status": "passing", "DeregisterCriticalServiceAfter": "10s"}}
            """);

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-1") == InstanceHealth.Healthy, Deadline, "the TCP check of a listening port to pass");
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-2") == InstanceHealth.Unhealthy, Deadline, "the TCP check of a closed port to fail");
        Assert.StartsWith($"its Consul check is critical: TCP connect 127.0.0.1:{closed.Port}: ", await controlPlane.ReasonOfAsync("orders-2"), StringComparison.Ordinal);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("orders-2") is null, Deadline, "the critical instance to be deregistered");
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("orders-1"));
    }

    [Fact]
    public async Task Checks_WarnAndUpdate_TakeItOutOfThePassingSet_UnknownOnes404()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register", SteeltoeBody);
        await PutAsync(controlPlane, "v1/agent/check/pass/service:orders-1");

        await PutAsync(controlPlane, "v1/agent/check/warn/service:orders-1?note=slow%20disk");

        Assert.Equal(0, (await GetAsync(controlPlane, "v1/health/service/orders?passing")).Body.GetArrayLength());
        Assert.Equal("its Consul check is warning: slow disk", await controlPlane.ReasonOfAsync("orders-1"));

        await PutAsync(controlPlane, "v1/agent/check/update/service:orders-1", """{"Status": "critical", "Output": "db down"}""");

        Assert.Equal("its Consul check is critical: db down", await controlPlane.ReasonOfAsync("orders-1"));
        using var badStatus = await controlPlane.Http.PutAsync("v1/agent/check/update/service:orders-1", Json("""{"Status": "maintenance"}"""), Cancel);
        using var unknown = await controlPlane.Http.PutAsync("v1/agent/check/pass/service:ghost", null, Cancel);
        using var notAService = await controlPlane.Http.PutAsync("v1/agent/check/pass/orders-1", null, Cancel);
        using var deregisterUnknown = await controlPlane.Http.PutAsync("v1/agent/service/deregister/ghost", null, Cancel);
        using var maintenanceWithoutEnable = await controlPlane.Http.PutAsync("v1/agent/service/maintenance/orders-1", null, Cancel);
        Assert.Equal((HttpStatusCode.BadRequest, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.BadRequest),
            (badStatus.StatusCode, unknown.StatusCode, notAService.StatusCode, deregisterUnknown.StatusCode, maintenanceWithoutEnable.StatusCode));
    }

    [Fact]
    public async Task Maintenance_ShownAsACriticalCheck_SurvivesReRegistration_DisabledItPassesAgain()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register", SteeltoeBody);
        await PutAsync(controlPlane, "v1/agent/check/pass/service:orders-1");

        await PutAsync(controlPlane, "v1/agent/service/maintenance/orders-1?enable=true&reason=OUT_OF_SERVICE");
        await PutAsync(controlPlane, "v1/agent/service/register", SteeltoeBody);
        await PutAsync(controlPlane, "v1/agent/check/pass/service:orders-1");

        var checks = (await GetAsync(controlPlane, "v1/health/checks/orders")).Body.EnumerateArray().ToList();
        Assert.Equal([("service:orders-1", "passing"), ("_service_maintenance:orders-1", "critical")],
            checks.Select(c => (c.GetProperty("CheckID").GetString(), c.GetProperty("Status").GetString())));
        Assert.Equal("Service Maintenance Mode", checks[1].GetProperty("Name").GetString());
        Assert.Equal(InstanceHealth.Unhealthy, await controlPlane.HealthOfAsync("orders-1"));

        await PutAsync(controlPlane, "v1/agent/service/maintenance/orders-1?enable=false");

        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("orders-1"));
        Assert.Single((await GetAsync(controlPlane, "v1/health/checks/orders")).Body.EnumerateArray());
    }

    [Fact]
    public async Task BlockingQuery_AnswersWhenTheRegistryChanges_WithAHigherIndex()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ConsulApiTests).Assembly);
        await PutAsync(controlPlane, "v1/agent/service/register", SteeltoeBody);
        var (_, index) = await GetAsync(controlPlane, "v1/health/service/orders");
        Assert.True(index > 0);

        var blocked = GetAsync(controlPlane, $"v1/health/service/orders?index={index}&wait=30s");
        var timedOut = await GetAsync(controlPlane, $"v1/health/service/orders?index={index}&wait=100ms");
        Assert.False(blocked.IsCompleted, "the blocking query answered before anything changed");
        Assert.Equal(index, timedOut.Index);
        await PutAsync(controlPlane, "v1/agent/service/register", SteeltoeBody.Replace("orders-1", "orders-2", StringComparison.Ordinal));

        var (body, changed) = await blocked.WaitAsync(Deadline, Cancel);
        Assert.True(changed > index, $"index {changed} after the change, {index} before");
        Assert.Equal(["orders-1", "orders-2"], body.EnumerateArray().Select(e => e.GetProperty("Service").GetProperty("ID").GetString()));
    }
}
