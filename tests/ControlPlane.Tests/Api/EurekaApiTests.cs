using System.Net;
using System.Text;
using System.Text.Json;
using AspireMesh.Contracts.Registry;

namespace AspireMesh.ControlPlane.Tests.Api;

/// <summary>
/// The control plane's Eureka API against the real process, with the bodies Eureka clients send and the shapes they
/// parse (the Netflix server's JSON codec); eureka-js-client itself runs in the sidecar's interop tests.
/// </summary>
public sealed class EurekaApiTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    // As Spring Cloud and Steeltoe v3 send it (Netflix's codec): ports as objects, @class markers, string timestamps.
    private const string SpringBody = """
        {"instance": {"instanceId": "host1:orders:5001", "app": "ORDERS", "hostName": "host1", "ipAddr": "127.0.0.1",
         "vipAddress": "orders", "secureVipAddress": "orders", "status": "UP", "overriddenstatus": "UNKNOWN",
         "port": {"@enabled": "true", "$": 5001}, "securePort": {"@enabled": "false", "$": 443},
         "homePageUrl": "http://host1:5001/", "statusPageUrl": "http://host1:5001/info", "healthCheckUrl": "http://host1:5001/health",
         "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
         "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90}, "metadata": {"@class": "java.util.Collections$EmptyMap"},
         "lastUpdatedTimestamp": "1717000000000", "lastDirtyTimestamp": "1717000000000"}}
        """;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> GetJsonAsync(ControlPlaneProcess controlPlane, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("application/json");
        using var response = await controlPlane.Http.SendAsync(request, Cancel);
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static async Task RegisterAsync(ControlPlaneProcess controlPlane, string app, string body, string prefix = "eureka")
    {
        using var response = await controlPlane.Http.PostAsync($"{prefix}/apps/{app}", Json(body), Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.NoContent, $"register: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Cancel)}");
    }

    [Fact]
    public async Task Register_SpringBody_204_ListedInNetflixShapes_AndAMeshInstanceOfItsService()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);

        await RegisterAsync(controlPlane, "ORDERS", SpringBody);

        var apps = (await GetJsonAsync(controlPlane, "eureka/apps/")).GetProperty("applications");
        Assert.Equal(("1", "UP_1_"), (apps.GetProperty("versions__delta").GetString(), apps.GetProperty("apps__hashcode").GetString()));
        var app = Assert.Single(apps.GetProperty("application").EnumerateArray());
        Assert.Equal("ORDERS", app.GetProperty("name").GetString());
        var instance = Assert.Single(app.GetProperty("instance").EnumerateArray());
        Assert.Equal(("host1:orders:5001", "host1", "ORDERS", "127.0.0.1", "UP", "UNKNOWN"),
            (instance.GetProperty("instanceId").GetString(), instance.GetProperty("hostName").GetString(), instance.GetProperty("app").GetString(),
             instance.GetProperty("ipAddr").GetString(), instance.GetProperty("status").GetString(), instance.GetProperty("overriddenStatus").GetString()));
        // Numbers where clients parse numbers, strings where they parse strings.
        Assert.Equal((JsonValueKind.Number, 5001, "true"), (instance.GetProperty("port").GetProperty("$").ValueKind, instance.GetProperty("port").GetProperty("$").GetInt32(),
            instance.GetProperty("port").GetProperty("@enabled").GetString()));
        Assert.Equal((443, "false"), (instance.GetProperty("securePort").GetProperty("$").GetInt32(), instance.GetProperty("securePort").GetProperty("@enabled").GetString()));
        Assert.Equal(JsonValueKind.Number, instance.GetProperty("countryId").ValueKind);
        Assert.Equal(("com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "MyOwn"),
            (instance.GetProperty("dataCenterInfo").GetProperty("@class").GetString(), instance.GetProperty("dataCenterInfo").GetProperty("name").GetString()));
        Assert.Equal((30, 90), (instance.GetProperty("leaseInfo").GetProperty("renewalIntervalInSecs").GetInt32(), instance.GetProperty("leaseInfo").GetProperty("durationInSecs").GetInt32()));
        Assert.Equal("java.util.Collections$EmptyMap", instance.GetProperty("metadata").GetProperty("@class").GetString());
        Assert.Equal(("orders", "orders", "http://host1:5001/health"),
            (instance.GetProperty("vipAddress").GetString(), instance.GetProperty("secureVipAddress").GetString(), instance.GetProperty("healthCheckUrl").GetString()));
        Assert.Equal(("1717000000000", "ADDED", "false"), (instance.GetProperty("lastDirtyTimestamp").GetString(), instance.GetProperty("actionType").GetString(),
            instance.GetProperty("isCoordinatingDiscoveryServer").GetString()));
        var meshInstance = Assert.Single((await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "orders").Instances);
        Assert.Equal(("host1:orders:5001", "http://127.0.0.1:5001", InstanceHealth.Healthy), (meshInstance.Id, meshInstance.Address, meshInstance.Health));
        // Its lease is the Eureka client's: a sidecar's heartbeat for its id is refused and changes nothing.
        Assert.False(await controlPlane.Client.HeartbeatAsync("host1:orders:5001", new Heartbeat(false), Cancel));
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("host1:orders:5001"));
    }

    [Theory]
    [InlineData("eureka/apps")]
    [InlineData("eureka/v2/apps/")]
    [InlineData("eureka/apps/orders")]
    [InlineData("eureka/v2/apps/ORDERS/")]
    [InlineData("eureka/apps/ORDERS/host1%3Aorders%3A5001")]
    [InlineData("eureka/v2/instances/host1:orders:5001")]
    [InlineData("eureka/vips/orders")]
    [InlineData("eureka/svips/ORDERS")]
    public async Task Reads_BothPrefixesTrailingSlashAnyCaseEncodedIds_Answer200(string path)
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);
        await RegisterAsync(controlPlane, "orders", SpringBody, "eureka/v2");

        var document = await GetJsonAsync(controlPlane, path);

        Assert.Contains("host1:orders:5001", document.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_LenientBody_BarePortNullsNoIdNoStatusMetadata_AcceptedAsNetflixWould()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);

        // No wrapper field values a strict reader would refuse: a bare port, nulls (Steeltoe v3), no instanceId, no status.
        await RegisterAsync(controlPlane, "Inventory", """
            {"instance": {"app": "inventory", "hostName": "inv-host", "ipAddr": "127.0.0.2", "port": 8080, "securePort": null,
             "vipAddress": "inventory", "dataCenterInfo": {"name": "MyOwn"}, "leaseInfo": {"durationInSecs": -1, "registrationTimestamp": -5},
             "metadata": {"@class": "java.util.HashMap", "zone": "a", "weight": 3, "gone": null}, "lastDirtyTimestamp": null}}
            """);

        var instance = (await GetJsonAsync(controlPlane, "eureka/apps/INVENTORY/inv-host")).GetProperty("instance");
        Assert.Equal(("inv-host", "UP", 8080, 90), (instance.GetProperty("instanceId").GetString(), instance.GetProperty("status").GetString(),
            instance.GetProperty("port").GetProperty("$").GetInt32(), instance.GetProperty("leaseInfo").GetProperty("durationInSecs").GetInt32()));
        Assert.Equal("""{"weight":"3","zone":"a"}""", instance.GetProperty("metadata").GetRawText());
        Assert.Equal("http://127.0.0.2:8080", (await controlPlane.GetServicesAsync()).Services.Single(s => s.Name == "inventory").Instances.Single().Address);
    }

    [Theory]
    [InlineData("""{"instance": {"app": "ORDERS", "ipAddr": "127.0.0.1", "instanceId": "x"}}""", "Missing hostname")]
    [InlineData("""{"instance": {"app": "ORDERS", "hostName": "h"}}""", "Missing ip address")]
    [InlineData("""{"instance": {"hostName": "h", "ipAddr": "127.0.0.1"}}""", "Missing appName")]
    [InlineData("""{"instance": {"app": "PAYMENTS", "hostName": "h", "ipAddr": "127.0.0.1"}}""", "Mismatched appName, expecting ORDERS but was PAYMENTS")]
    [InlineData("""{"instance": {"app": "ORDERS", "hostName": "h", "ipAddr": "127.0.0.1", "port": {"$": 1, "@enabled": "false"}}}""", "Neither port nor securePort is enabled")]
    [InlineData("""{"instance": {"app": "ORDERS", "hostName": "h", "ipAddr": "127.0.0.1", "port": "eighty"}}""", "port is neither a number nor")]
    [InlineData("""{"instance": {"app": "ORDERS", "hostName": "h", "ipAddr": "127.0.0.1", "port": 70000}}""", "port 70000 is not a TCP port")]
    [InlineData("""{"instance": {"app": "ORDERS", """, "The body is not JSON")]
    public async Task Register_Invalid_400WithTheReason_NothingRegistered(string body, string reason)
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);

        using var response = await controlPlane.Http.PostAsync("eureka/apps/orders", Json(body), Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith(reason, await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Empty((await controlPlane.GetServicesAsync()).Services.SelectMany(s => s.Instances));
    }

    [Fact]
    public async Task Register_XmlOversizedOrOverlongId_RefusedSayingWhy()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);

        using var xml = await controlPlane.Http.PostAsync("eureka/apps/orders",
            new StringContent("<instance><app>ORDERS</app></instance>", Encoding.UTF8, "application/xml"), Cancel);
        using var oversized = await controlPlane.Http.PostAsync("eureka/apps/orders",
            Json(SpringBody.Replace("\"name\": \"MyOwn\"", $"\"name\": \"MyOwn\", \"padding\": \"{new string('x', 300_000)}\"", StringComparison.Ordinal)), Cancel);
        using var overlong = await controlPlane.Http.PostAsync("eureka/apps/orders",
            Json(SpringBody.Replace("host1:orders:5001", new string('h', 254), StringComparison.Ordinal)), Cancel);

        Assert.Equal((HttpStatusCode.UnsupportedMediaType, HttpStatusCode.RequestEntityTooLarge, HttpStatusCode.BadRequest),
            (xml.StatusCode, oversized.StatusCode, overlong.StatusCode));
        Assert.Contains("JSON only", await xml.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.StartsWith("instanceId is 254 characters long", await overlong.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Empty((await controlPlane.GetServicesAsync()).Services.SelectMany(s => s.Instances));
    }

    [Fact]
    public async Task Heartbeat_Known200_Unknown404_FromAClientThatChangedSince404()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);
        await RegisterAsync(controlPlane, "ORDERS", SpringBody);

        using var known = await controlPlane.Http.PutAsync("eureka/apps/ORDERS/host1:orders:5001?status=UP&lastDirtyTimestamp=1717000000000", null, Cancel);
        using var otherApp = await controlPlane.Http.PutAsync("eureka/apps/PAYMENTS/host1:orders:5001", null, Cancel);
        using var unknown = await controlPlane.Http.PutAsync("eureka/apps/ORDERS/ghost", null, Cancel);
        using var changed = await controlPlane.Http.PutAsync("eureka/apps/ORDERS/host1:orders:5001?lastDirtyTimestamp=1717000009999", null, Cancel);

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound),
            (known.StatusCode, otherApp.StatusCode, unknown.StatusCode, changed.StatusCode));
        Assert.Contains("register it again", await unknown.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatusOverride_OutOfService_TakesItOutOfTheMeshAndSurvivesReRegistration_RemovedItComesBack()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);
        await RegisterAsync(controlPlane, "ORDERS", SpringBody);

        using var set = await controlPlane.Http.PutAsync("eureka/apps/ORDERS/host1:orders:5001/status?value=OUT_OF_SERVICE", null, Cancel);
        await RegisterAsync(controlPlane, "ORDERS", SpringBody);

        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var apps = (await GetJsonAsync(controlPlane, "eureka/apps")).GetProperty("applications");
        Assert.Equal("OUT_OF_SERVICE_1_", apps.GetProperty("apps__hashcode").GetString());
        var instance = apps.GetProperty("application")[0].GetProperty("instance")[0];
        Assert.Equal(("OUT_OF_SERVICE", "OUT_OF_SERVICE"), (instance.GetProperty("status").GetString(), instance.GetProperty("overriddenStatus").GetString()));
        Assert.Equal(InstanceHealth.Unhealthy, await controlPlane.HealthOfAsync("host1:orders:5001"));
        Assert.Equal("its Eureka status is overridden to OUT_OF_SERVICE", await controlPlane.ReasonOfAsync("host1:orders:5001"));

        using var removed = await controlPlane.Http.DeleteAsync("eureka/apps/ORDERS/host1:orders:5001/status", Cancel);

        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("host1:orders:5001"));
        Assert.Equal("UP_1_", (await GetJsonAsync(controlPlane, "eureka/apps")).GetProperty("applications").GetProperty("apps__hashcode").GetString());
    }

    [Fact]
    public async Task Metadata_QueryPairs_MergedIntoTheInstances()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);
        await RegisterAsync(controlPlane, "ORDERS", SpringBody);

        using var response = await controlPlane.Http.PutAsync("eureka/apps/ORDERS/host1:orders:5001/metadata?zone=b&version=2", null, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var metadata = (await GetJsonAsync(controlPlane, "eureka/instances/host1:orders:5001")).GetProperty("instance").GetProperty("metadata");
        Assert.Equal("""{"version":"2","zone":"b"}""", metadata.GetRawText());
    }

    [Fact]
    public async Task Cancel_200_ThenGoneFromEurekaAndTheMesh()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);
        await RegisterAsync(controlPlane, "ORDERS", SpringBody);

        using var cancel = await controlPlane.Http.DeleteAsync("eureka/apps/ORDERS/host1:orders:5001", Cancel);
        using var again = await controlPlane.Http.DeleteAsync("eureka/apps/ORDERS/host1:orders:5001", Cancel);
        using var app = await controlPlane.Http.GetAsync("eureka/apps/ORDERS", Cancel);

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.NotFound), (cancel.StatusCode, again.StatusCode, app.StatusCode));
        var empty = (await GetJsonAsync(controlPlane, "eureka/apps")).GetProperty("applications");
        Assert.Equal(("", 0), (empty.GetProperty("apps__hashcode").GetString(), empty.GetProperty("application").GetArrayLength()));
        Assert.Null(await controlPlane.HealthOfAsync("host1:orders:5001"));
    }

    [Fact]
    public async Task Lease_NoHeartbeatForItsDuration_Evicted()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);
        await RegisterAsync(controlPlane, "ORDERS", SpringBody.Replace("\"durationInSecs\": 90", "\"durationInSecs\": 3", StringComparison.Ordinal));
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("host1:orders:5001"));

        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("host1:orders:5001") is null, Deadline, "the instance to be evicted");

        using var heartbeat = await controlPlane.Http.PutAsync("eureka/apps/ORDERS/host1:orders:5001", null, Cancel);
        Assert.Equal(HttpStatusCode.NotFound, heartbeat.StatusCode);
    }

    [Fact]
    public async Task SidecarInstances_ListedToEurekaClients_OnTheSecurePortWithTheirIdentity()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);
        await controlPlane.Client.RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5301", true) { Mtls = true }, Cancel);
        await controlPlane.Client.RegisterAsync("catalog-2", new InstanceRegistration("catalog", "http://127.0.0.1:5311", false), Cancel);

        var app = (await GetJsonAsync(controlPlane, "eureka/apps/CATALOG")).GetProperty("application");

        var instances = app.GetProperty("instance").EnumerateArray().ToList();
        Assert.Equal(["catalog-1", "catalog-2"], instances.Select(i => i.GetProperty("instanceId").GetString()));
        Assert.Equal(("UP", 5301, "true", "false"), (instances[0].GetProperty("status").GetString(), instances[0].GetProperty("securePort").GetProperty("$").GetInt32(),
            instances[0].GetProperty("securePort").GetProperty("@enabled").GetString(), instances[0].GetProperty("port").GetProperty("@enabled").GetString()));
        Assert.Equal("spiffe://cluster.local/ns/default/sa/catalog", instances[0].GetProperty("metadata").GetProperty("mesh.identity").GetString());
        Assert.Equal(("DOWN", 5311, "true"), (instances[1].GetProperty("status").GetString(), instances[1].GetProperty("port").GetProperty("$").GetInt32(),
            instances[1].GetProperty("port").GetProperty("@enabled").GetString()));
        Assert.Equal("DOWN_1_UP_1_", (await GetJsonAsync(controlPlane, "eureka/apps")).GetProperty("applications").GetProperty("apps__hashcode").GetString());

        // Listed, not managed: a sidecar's instance takes no Eureka status override.
        using var overridden = await controlPlane.Http.PutAsync("eureka/apps/CATALOG/catalog-1/status?value=OUT_OF_SERVICE", null, Cancel);
        Assert.Equal(HttpStatusCode.NotFound, overridden.StatusCode);
        Assert.Equal("Instance catalog-1 was registered by a mesh sidecar, not through the Eureka API: it keeps it.", await overridden.Content.ReadAsStringAsync(Cancel));
        Assert.Equal(InstanceHealth.Healthy, await controlPlane.HealthOfAsync("catalog-1"));
    }

    [Fact]
    public async Task Delta_RecentChangesWithTheirActions_LatestPerInstance_RenewalsAreNotChanges()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(EurekaApiTests).Assembly);
        await RegisterAsync(controlPlane, "ORDERS", SpringBody);
        await RegisterAsync(controlPlane, "ORDERS", SpringBody.Replace("host1:orders:5001", "host2:orders:5001", StringComparison.Ordinal));
        await controlPlane.Client.RegisterAsync("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5301", true), Cancel);
        using (var overridden = await controlPlane.Http.PutAsync("eureka/apps/ORDERS/host1:orders:5001/status?value=OUT_OF_SERVICE", null, Cancel))
        using (var cancelled = await controlPlane.Http.DeleteAsync("eureka/apps/ORDERS/host2:orders:5001", Cancel))
        {
            Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (overridden.StatusCode, cancelled.StatusCode));
        }

        var delta = (await GetJsonAsync(controlPlane, "eureka/apps/delta")).GetProperty("applications");

        var actions = delta.GetProperty("application").EnumerateArray()
            .SelectMany(a => a.GetProperty("instance").EnumerateArray())
            .ToDictionary(i => i.GetProperty("instanceId").GetString()!, i => (i.GetProperty("actionType").GetString(), i.GetProperty("status").GetString()));
        Assert.Equal(("MODIFIED", "OUT_OF_SERVICE"), actions["host1:orders:5001"]);
        Assert.Equal(("DELETED", "UP"), actions["host2:orders:5001"]);
        Assert.Equal(("ADDED", "UP"), actions["catalog-1"]);
        // The hash code is the whole registry's, which a client compares with its own after applying the delta.
        Assert.Equal("OUT_OF_SERVICE_1_UP_1_", delta.GetProperty("apps__hashcode").GetString());
        var version = long.Parse(delta.GetProperty("versions__delta").GetString()!);

        using (var renewed = await controlPlane.Http.PutAsync("eureka/apps/ORDERS/host1:orders:5001", null, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, renewed.StatusCode);
        }

        Assert.Equal(version.ToString(), (await GetJsonAsync(controlPlane, "eureka/apps/delta")).GetProperty("applications").GetProperty("versions__delta").GetString());
    }
}
