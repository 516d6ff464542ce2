using System.CommandLine;
using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Admin;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Security;
using AspireMesh.ProxyEngine.Telemetry;

var name = new Option<string>("--name") { Description = "The gateway's name; routes attach to it.", DefaultValueFactory = _ => "gateway" };
var port = new Option<int>("--port") { Description = "Public port.", DefaultValueFactory = _ => 8080 };
var host = new Option<string>("--host") { Description = "Public host to bind.", DefaultValueFactory = _ => "localhost" };
var adminPort = new Option<int>("--admin-port") { Description = "Port of /ready and /live on 127.0.0.1 (0 = any free port)." };
var controlPlane = CommandLineOptions.Url("--control-plane", "Control plane base URL.", new Uri("http://localhost:8761/"));
var accessLogOption = new Option<bool>("--access-log") { Description = "Write one structured line per request (switchable later: PUT /access-log?enabled=false on the admin port)." };
var stateDir = new Option<string?>("--state-dir") { Description = "Where the last applied snapshot is kept (default: a folder per gateway under the temp directory)." };
var telemetryOption = CommandLineOptions.Telemetry();
var root = new RootCommand("AspireMesh gateway: routes requests from outside the mesh to its services.") { name, port, host, adminPort, controlPlane, stateDir, accessLogOption, telemetryOption };
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0 || parsed.Action is not null)
{
    return await parsed.InvokeAsync();
}

var gatewayName = parsed.GetRequiredValue(name);
var proxyId = $"{gatewayName}-{Environment.ProcessId}";
var stateDirectory = parsed.GetValue(stateDir) ?? Path.Combine(Path.GetTempPath(), "aspiremesh", "gateways", gatewayName);
var controlPlaneUrl = parsed.GetRequiredValue(controlPlane);
var telemetry = parsed.GetValue(telemetryOption) != "off";
var status = new ProxyStatus();

// The gateway calls sidecars over mTLS with its own mesh identity, obtained before it takes any request.
using var loggers = LoggerFactory.Create(logging => logging.AddConsole());
await using var identity = new WorkloadIdentity(ProxyKinds.Gateway, gatewayName, proxyId, stateDirectory,
    new ControlPlaneClient(new HttpClient { BaseAddress = controlPlaneUrl, Timeout = TimeSpan.FromSeconds(30) }),
    Environment.GetEnvironmentVariable(BootstrapCredential.EnvironmentVariable), loggers.CreateLogger("AspireMesh.Gateway.Identity"));
try
{
    await identity.InitializeAsync(CancellationToken.None);
}
catch (IdentityException ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 2;
}

var publicBuilder = ListenerHost.CreateBuilder($"http://{parsed.GetRequiredValue(host)}:{parsed.GetValue(port)}");
publicBuilder.Services.AddMeshProxyEngine(new ProxyEngineOptions
{
    Kind = ProxyKinds.Gateway,
    Name = gatewayName,
    ProxyId = proxyId,
    ControlPlane = controlPlaneUrl,
    StateFile = Path.Combine(stateDirectory, "snapshot.json"),
    Identity = identity,
}, status);
if (telemetry)
{
    publicBuilder.ConfigureOpenTelemetry();
}

using var metrics = new RequestMetrics();
var accessLog = new AccessLog(telemetry && parsed.GetValue(accessLogOption));
var tap = new TapHub(proxyId);
publicBuilder.Services.AddSingleton(metrics);
publicBuilder.Services.AddSingleton(accessLog);
publicBuilder.Services.AddSingleton(tap);
var gateway = publicBuilder.Build();
gateway.UseMeshMetrics(new MetricsOptions { Direction = "ingress", Source = "external", Enabled = telemetry });
gateway.UseMeshErrors();
gateway.MapMeshRoutes(context => $"no route of gateway '{gatewayName}' matched {context.Request.Method} {context.Request.Path}.");

var admin = ListenerHost.CreateBuilder($"http://127.0.0.1:{parsed.GetValue(adminPort)}").Build();
admin.MapProxyAdmin(status, metrics, accessLog, tap);
admin.RecordAddressOnStart(status);

return await ListenerHost.RunAllAsync([admin, gateway]);
