using System.CommandLine;
using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.Gateway;
using AspireMesh.Gateway.Authentication;
using AspireMesh.ProxyEngine.Authentication;
using AspireMesh.Gateway.Ingress;
using AspireMesh.Gateway.Tls;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Admin;
using AspireMesh.ProxyEngine.Configuration;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Security;
using AspireMesh.ProxyEngine.Telemetry;

var name = new Option<string>("--name") { Description = "The gateway's name; routes attach to it.", DefaultValueFactory = _ => "gateway" };
name.Validators.Add(result =>
{
    // Its mesh identity is spiffe://<trust domain>/ns/default/sa/gateway.<name>: the control plane issues it for DNS labels only.
    if (!AspireMesh.Contracts.Config.MeshConfigValidator.IsDnsLabel(result.GetValueOrDefault<string>()))
    {
        result.AddError($"--name: '{result.GetValueOrDefault<string>()}' is not a gateway name (1-63 lower-case letters, digits or '-', starting with a letter).");
    }
});
var port = new Option<int>("--port") { Description = "Public plain-HTTP port.", DefaultValueFactory = _ => 8080 };
var host = new Option<string>("--host") { Description = "Public host to bind.", DefaultValueFactory = _ => "localhost" };
var adminPort = new Option<int>("--admin-port") { Description = "Port of /ready and /live on 127.0.0.1 (0 = any free port)." };
var controlPlane = CommandLineOptions.Url("--control-plane", "Control plane base URL.", new Uri("http://localhost:8761/"));
var accessLogOption = new Option<bool>("--access-log") { Description = "Write one structured line per request (switchable later: PUT /access-log?enabled=false on the admin port)." };
var stateDir = new Option<string?>("--state-dir") { Description = "Where the last applied snapshot (and the development certificate) is kept (default: a folder per gateway under the temp directory)." };
var httpsPort = new Option<int?>("--https-port") { Description = "Public HTTPS port (HTTP/1.1 and HTTP/2); off when not given." };
var certificate = new Option<string?>("--certificate") { Description = "Certificate for HTTPS: a PEM file (key in it or in --certificate-key) or a .pfx/.p12. Without it a development certificate for localhost is generated in the state directory." };
var certificateKey = new Option<string?>("--certificate-key") { Description = "PEM private key of --certificate." };
var certificatePassword = new Option<string?>("--certificate-password") { Description = "Password of a .pfx or encrypted PEM key (or set ASPIREMESH_CERTIFICATE_PASSWORD)." };
var redirectHttp = new Option<bool>("--redirect-http") { Description = "Answer plain-HTTP requests with 308 to the HTTPS port." };
var serverNames = new Option<string[]>("--server-names") { Description = "Host names HTTPS answers for; a TLS handshake naming another (SNI) is refused. Default: any.", AllowMultipleArgumentsPerToken = true };
var maxHeaders = new Option<int>("--max-request-headers-bytes") { Description = "Largest total size of request headers (431 above).", DefaultValueFactory = _ => IngressOptions.DefaultMaxHeaderBytes };
var maxUrl = new Option<int>("--max-url-length") { Description = "Longest request target, path and query (414 above).", DefaultValueFactory = _ => IngressOptions.DefaultMaxUrlLength };
var maxBody = new Option<long>("--max-request-body-bytes") { Description = "Largest request body (413 above); 0 = no limit.", DefaultValueFactory = _ => IngressOptions.DefaultMaxBodyBytes };
var allowEncodedSlashes = new Option<bool>("--allow-encoded-slashes") { Description = "Accept %2F in paths (refused with 400 by default: backends that decode it could reach paths no route exposes)." };
var stripHeaders = new Option<string[]>("--strip-header") { Description = "More request headers to remove from client requests (x-mesh-*, x-spiffe-*, x-forwarded-* and forwarded always are).", AllowMultipleArgumentsPerToken = true };
var telemetryPort = new Option<int?>("--telemetry-port")
{
    Description = "Port of the telemetry listener, on the --host address (off when not given; 0 = any free port): /metrics, /ready and /live for anyone, /stats and /tap for the control plane over mTLS. For a control plane or Prometheus on another machine (in a pod: 15020).",
};
telemetryPort.Validators.Add(result =>
{
    if (result.GetValueOrDefault<int?>() is { } value && value is < 0 or > 65535)
    {
        result.AddError($"--telemetry-port: {value} is not a port (0-65535).");
    }
});
var advertiseHost = new Option<string?>("--advertise-host") { Description = "Host (IP or DNS name) the control plane reaches the telemetry listener at (default: the --host address; in a pod: its IP)." };
advertiseHost.Validators.Add(result =>
{
    if (result.GetValueOrDefault<string?>() is { } given && Uri.CheckHostName(given) is UriHostNameType.Unknown or UriHostNameType.Basic)
    {
        result.AddError($"--advertise-host: '{given}' is not a host name or IP address.");
    }
});
var telemetryOption = CommandLineOptions.Telemetry();
var io = IoScheduling.Option();
var memoryReclaim = CommandLineOptions.MemoryReclaimInterval();
var root = new RootCommand("AspireMesh gateway: routes requests from outside the mesh to its services.")
{
    name, port, host, adminPort, controlPlane, stateDir, accessLogOption, httpsPort, certificate, certificateKey, certificatePassword, redirectHttp, serverNames,
    maxHeaders, maxUrl, maxBody, allowEncodedSlashes, stripHeaders, telemetryOption, io, memoryReclaim, telemetryPort, advertiseHost,
};
maxHeaders.Validators.Add(result => AtLeast(result, 1024));
maxUrl.Validators.Add(result => AtLeast(result, 64));
maxBody.Validators.Add(result =>
{
    if (result.GetValueOrDefault<long>() < 0)
    {
        result.AddError($"--max-request-body-bytes: {result.GetValueOrDefault<long>()} is negative (0 means no limit).");
    }
});
serverNames.Validators.Add(result =>
{
    foreach (var serverName in result.GetValueOrDefault<string[]>() ?? [])
    {
        if (Uri.CheckHostName(serverName.StartsWith("*.", StringComparison.Ordinal) ? serverName[2..] : serverName) != UriHostNameType.Dns)
        {
            result.AddError($"--server-names: '{serverName}' is not a host name (a leading '*.' is allowed).");
        }
    }
});
root.Validators.Add(result =>
{
    if (result.GetResult(httpsPort) is null or { Implicit: true })
    {
        foreach (var option in new Option[] { certificate, certificateKey, certificatePassword, redirectHttp, serverNames })
        {
            if (result.GetResult(option) is { Implicit: false })
            {
                result.AddError($"{option.Name} needs --https-port.");
            }
        }
    }

    if (result.GetResult(certificate) is null or { Implicit: true } && result.GetResult(certificateKey) is { Implicit: false })
    {
        result.AddError("--certificate-key needs --certificate.");
    }

    if (result.GetValue(telemetryPort) is not null && result.GetValue(advertiseHost) is null && TelemetryBind(result.GetValue(host)) is var bound
        && (bound is null || bound.Equals(System.Net.IPAddress.Any) || bound.Equals(System.Net.IPAddress.IPv6Any)))
    {
        result.AddError($"--telemetry-port on --host {result.GetValue(host)} needs --advertise-host (the address the control plane reaches this gateway at, e.g. the pod IP).");
    }
    else if (result.GetResult(advertiseHost) is { Implicit: false } && result.GetValue(telemetryPort) is null)
    {
        result.AddError("--advertise-host needs --telemetry-port.");
    }
});
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0 || parsed.Action is not null)
{
    return await parsed.InvokeAsync();
}

IoScheduling.Use(IoScheduling.Parse(parsed.GetValue(io)));
var gatewayName = parsed.GetRequiredValue(name);
var stateDirectory = parsed.GetValue(stateDir) ?? Path.Combine(Path.GetTempPath(), "aspiremesh", "gateways", gatewayName);
var httpsPortValue = parsed.GetValue(httpsPort);
var ingress = new IngressOptions
{
    MaxHeaderBytes = parsed.GetValue(maxHeaders),
    MaxUrlLength = parsed.GetValue(maxUrl),
    MaxBodyBytes = parsed.GetValue(maxBody) is > 0 and var limit ? limit : null,
    AllowEncodedSlashes = parsed.GetValue(allowEncodedSlashes),
    StripHeaders = parsed.GetValue(stripHeaders) ?? [],
    RedirectToHttpsPort = parsed.GetValue(redirectHttp) ? httpsPortValue : null,
};

System.Security.Cryptography.X509Certificates.X509Certificate2? serverCertificate = null;
if (httpsPortValue is not null)
{
    try
    {
        if (parsed.GetValue(certificate) is { } certificatePath)
        {
            serverCertificate = ServerCertificate.Load(certificatePath, parsed.GetValue(certificateKey),
                parsed.GetValue(certificatePassword) ?? Environment.GetEnvironmentVariable("ASPIREMESH_CERTIFICATE_PASSWORD"));
            Console.WriteLine($"HTTPS certificate: {serverCertificate.Subject}, thumbprint {serverCertificate.Thumbprint}, expires {serverCertificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC");
        }
        else
        {
            var (development, crtPath, created) = DevelopmentCertificate.LoadOrCreate(stateDirectory, TimeProvider.System);
            serverCertificate = development;
            Console.WriteLine($"HTTPS development certificate ({(created ? "created" : "reused")}): {crtPath}, thumbprint {development.Thumbprint}, expires {development.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC (trust it, e.g. curl --cacert {crtPath})");
        }
    }
    catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
    {
        await Console.Error.WriteLineAsync($"error: {ex.Message}");
        return 1;
    }
}

var proxyId = $"{gatewayName}-{Environment.ProcessId}";
var controlPlaneUrl = parsed.GetRequiredValue(controlPlane);
var telemetry = parsed.GetValue(telemetryOption) != "off";
var status = new ProxyStatus();

// The gateway calls sidecars over mTLS with its own mesh identity, obtained before it takes any request.
using var loggers = LoggerFactory.Create(logging => logging.AddConsole());
ControlPlaneTrust controlPlaneTrust;
try
{
    controlPlaneTrust = ControlPlaneTrust.FromEnvironment();
}
catch (InvalidDataException ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 2;
}

await using var identity = new WorkloadIdentity(ProxyKinds.Gateway, gatewayName, proxyId, stateDirectory,
    ControlPlaneClient.Create(controlPlaneUrl, TimeSpan.FromSeconds(30), controlPlaneTrust),
    Environment.GetEnvironmentVariable(BootstrapCredential.EnvironmentVariable), loggers.CreateLogger("AspireMesh.Gateway.Identity"));
try
{
    if (!await identity.InitializeUnlessStoppedAsync())
    {
        return 0;
    }
}
catch (IdentityException ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 2;
}

var publicBuilder = PublicListener.CreateBuilder(new PublicListenerOptions(parsed.GetRequiredValue(host), parsed.GetValue(port), httpsPortValue, serverCertificate,
    new ServerNames(parsed.GetValue(serverNames) ?? []), ingress));
publicBuilder.Services.AddMeshProxyEngine(new ProxyEngineOptions
{
    Kind = ProxyKinds.Gateway,
    Name = gatewayName,
    ProxyId = proxyId,
    ControlPlane = controlPlaneUrl,
    StateFile = Path.Combine(stateDirectory, "snapshot.json"),
    Identity = identity,
    ClientSpans = TracePropagation.RecordsSpans(telemetry, publicBuilder.Configuration),
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
publicBuilder.Services.AddSingleton(services => new AuthenticationPolicies(gatewayName, services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILoggerFactory>()));
publicBuilder.Services.AddSingleton<ISnapshotConsumer>(services => services.GetRequiredService<AuthenticationPolicies>());
var gateway = publicBuilder.Build();
gateway.UseMeshMetrics(new MetricsOptions { Direction = "ingress", Source = "external", Enabled = telemetry });
gateway.UseMeshErrors();
// Routes (and claim headers to remove) come with the first snapshot: what arrives before it and passes the checks
// that need none (redirect, limits, hygiene) is held, not answered 404 or let through with a forged claim header.
gateway.UseIngressProtection(ingress, beforeSnapshotUse: app => app.UseFirstSnapshotWait(status, "public"));
gateway.UseMeshCors();
gateway.UseMiddleware<AuthenticationMiddleware>();
gateway.MapMeshRoutes(context => $"no route of gateway '{gatewayName}' matched {context.Request.Method} {context.Request.Path}.");

var adminBuilder = ListenerHost.CreateBuilder($"http://127.0.0.1:{parsed.GetValue(adminPort)}");
adminBuilder.Services.AddMemoryReclaimer(parsed.GetValue(memoryReclaim));
var admin = adminBuilder.Build();
admin.MapProxyAdmin(status, metrics, accessLog, tap);
admin.RecordAddressOnStart(status);
gateway.ReadyOnceListening(status, "public");

List<WebApplication> listeners = [admin, gateway];
if (parsed.GetValue(telemetryPort) is { } telemetryPortValue)
{
    var bind = TelemetryBind(parsed.GetValue(host));
    // Started before the public listener, as the admin listener is: the first report to the control plane carries its address.
    listeners.Insert(1, TelemetryListener.Build(bind, telemetryPortValue, parsed.GetValue(advertiseHost) ?? bind!.ToString(), new PeerAuthentication(identity), status,
        metrics, accessLog, tap, loggers.CreateLogger("AspireMesh.Gateway.Tls")));
}

// Once all listen: where to send requests, and where to ask whether the gateway is ready (ports may have been 0).
return await ListenerHost.RunAllAsync(listeners, () => GatewayLog.Listening(gateway.Logger, gatewayName,
    string.Join(", ", ListenerHost.BoundAddresses(gateway)), ListenerHost.BoundAddresses(admin).FirstOrDefault() ?? "?"));

// The telemetry listener binds what the public listener binds (PublicListener): an IP address as given (0.0.0.0 in a pod),
// every address for '*' or a host name (null); for localhost 127.0.0.1 (Kestrel picks no free port for "localhost").
static System.Net.IPAddress? TelemetryBind(string? host) =>
    string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) ? System.Net.IPAddress.Loopback
    : System.Net.IPAddress.TryParse(host?.Trim('[', ']'), out var address) ? address
    : null;

static void AtLeast(System.CommandLine.Parsing.OptionResult result, int minimum)
{
    var value = result.GetValueOrDefault<int>();
    if (value < minimum)
    {
        result.AddError($"{result.Option.Name}: {value} is less than {minimum}.");
    }
}
