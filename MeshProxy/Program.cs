using System.Net;
using System.CommandLine;
using AspireMesh.Hosting.Processes;
using AspireMesh.MeshProxy;
using AspireMesh.ProxyEngine.Hosting;

var service = new Option<string>("--service") { Description = "The service this instance belongs to (e.g. catalog).", Required = true };
service.Validators.Add(result =>
{
    // Its mesh identity is spiffe://<trust domain>/ns/default/sa/<service>: the control plane issues it for DNS labels only.
    if (!AspireMesh.Contracts.Config.MeshConfigValidator.IsDnsLabel(result.GetValueOrDefault<string>()))
    {
        result.AddError($"--service: '{result.GetValueOrDefault<string>()}' is not a service name (1-63 lower-case letters, digits or '-', starting with a letter).");
    }
});
var instanceId = new Option<string?>("--instance-id") { Description = "Unique instance id (default: <service>-<random>)." };
var appUrl = CommandLineOptions.Url("--app-url", "Where the application listens (default with a command: a free port on 127.0.0.1).", new Uri("http://127.0.0.1:0/"));
var appHealth = new Option<string>("--app-health-path") { Description = "The application's health endpoint; empty means any answer is healthy.", DefaultValueFactory = _ => "/health" };
var appHealthTimeout = new Option<double>("--app-health-timeout")
{
    Description = "Seconds the application has to answer a health probe before it counts as failed (default 2; three failed probes in a row take the instance out of rotation).",
    DefaultValueFactory = _ => SidecarOptions.DefaultAppHealthTimeout.TotalSeconds,
};
appHealthTimeout.Validators.Add(result =>
{
    if (result.GetValueOrDefault<double>() is var seconds && !(seconds >= 0.001 && seconds <= 300))
    {
        result.AddError($"--app-health-timeout: {seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} is not a number of seconds from 0.001 to 300.");
    }
});
var inboundPort = new Option<int>("--inbound-port") { Description = "Port peers call this instance on (0 = any free port)." };
var outboundPort = new Option<int>("--outbound-port") { Description = "Port of the application's HTTP proxy (0 = any free port)." };
var inboundHttp2Port = new Option<int>("--inbound-h2-port") { Description = "Port peers call this instance on with HTTP/2 (h2c, prior knowledge) (0 = any free port)." };
var outboundHttp2Port = new Option<int>("--outbound-h2-port") { Description = "Port of the application's HTTP/2 (h2c) proxy; CONNECT tunnels from the HTTP_PROXY port join it (0 = any free port)." };
var appProtocol = new Option<string>("--app-protocol") { Description = "What the application speaks: http (HTTP/1.1) or h2c (HTTP/2 without TLS, e.g. a gRPC server).", DefaultValueFactory = _ => AppProtocols.Http };
appProtocol.AcceptOnlyFromAmong(AppProtocols.Http, AppProtocols.H2c);
var inboundAddress = new Option<string>("--inbound-address") { Description = "Address the inbound listeners bind (0.0.0.0 in a pod, so other pods reach them).", DefaultValueFactory = _ => "127.0.0.1" };
inboundAddress.Validators.Add(result =>
{
    if (!IPAddress.TryParse(result.GetValueOrDefault<string>(), out _))
    {
        result.AddError($"--inbound-address: '{result.GetValueOrDefault<string>()}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0).");
    }
});
var advertiseHost = new Option<string?>("--advertise-host") { Description = "Host (IP or DNS name) registered for this instance, where peers call it (default: the inbound address; in a pod: its IP)." };
advertiseHost.Validators.Add(result =>
{
    if (result.GetValueOrDefault<string?>() is { } host && Uri.CheckHostName(host) is UriHostNameType.Unknown or UriHostNameType.Basic)
    {
        result.AddError($"--advertise-host: '{host}' is not a host name or IP address.");
    }
});
var adminPort = new Option<int>("--admin-port") { Description = "Port of /ready and /live (0 = any free port)." };
var telemetryPort = new Option<int?>("--telemetry-port")
{
    Description = "Port of the telemetry listener, on the inbound address (off when not given; 0 = any free port): /metrics, /ready and /live for anyone, /stats and /tap for the control plane over mTLS. For a control plane or Prometheus on another machine (in a pod: 15020).",
};
telemetryPort.Validators.Add(result =>
{
    if (result.GetValueOrDefault<int?>() is { } value && value is < 0 or > 65535)
    {
        result.AddError($"--telemetry-port: {value} is not a port (0-65535).");
    }
});
var controlPlane = CommandLineOptions.Url("--control-plane", "Control plane base URL.", new Uri("http://localhost:8761/"));
var accessLog = new Option<bool>("--access-log") { Description = "Write one structured line per request (switchable later: PUT /access-log?enabled=false on the admin port)." };
var stateDir = new Option<string?>("--state-dir") { Description = "Where the last applied snapshot is kept (default: a folder per instance under the temp directory)." };
var telemetry = CommandLineOptions.Telemetry();
var io = IoScheduling.Option();
var memoryReclaim = CommandLineOptions.MemoryReclaimInterval();
var cpuSlice = new Option<int>("--cpu-slice")
{
    Description = $"CPU time slice, in microseconds, the sidecar's threads ask Linux's scheduler for (6.12 or later), so that a woken one takes its core sooner (default {CpuSlice.DefaultMicroseconds}; {CpuSlice.MinimumMicroseconds}-{CpuSlice.MaximumMicroseconds}; 0: the kernel's default).",
    DefaultValueFactory = _ => CpuSlice.DefaultMicroseconds,
};
cpuSlice.Validators.Add(result =>
{
    var value = result.GetValueOrDefault<int>();
    if (value != 0 && value is < CpuSlice.MinimumMicroseconds or > CpuSlice.MaximumMicroseconds)
    {
        result.AddError($"--cpu-slice: {value} is outside {CpuSlice.MinimumMicroseconds}-{CpuSlice.MaximumMicroseconds} microseconds (the kernel's range); 0 keeps the kernel's default.");
    }
});
var inboundMtls = new Option<string>("--inbound-mtls")
{
    Description = "on (default): peers call this instance with mTLS. off: the inbound port takes plaintext only and every caller is served (Istio's DISABLE; to measure mTLS's cost, or to debug).",
    DefaultValueFactory = _ => "on",
};
inboundMtls.AcceptOnlyFromAmong("on", "off");
var command = new Argument<string[]>("command") { Arity = ArgumentArity.ZeroOrMore, Description = "After --: the application to start beside the sidecar (e.g. -- dotnet run --project samples/Storefront/Catalog)." };

var root = new RootCommand("AspireMesh sidecar: inbound, outbound and admin listeners beside one service instance.")
{
    service, instanceId, appUrl, appHealth, appHealthTimeout, appProtocol, inboundAddress, advertiseHost, inboundPort, outboundPort, inboundHttp2Port, outboundHttp2Port, adminPort, telemetryPort, controlPlane, stateDir, accessLog, telemetry, io, memoryReclaim, cpuSlice, inboundMtls, command,
};
root.Validators.Add(result =>
{
    // A wildcard bind names no address peers could call: the instance must say where it is reachable.
    if (IPAddress.TryParse(result.GetValue(inboundAddress), out var bound) && (bound.Equals(IPAddress.Any) || bound.Equals(IPAddress.IPv6Any))
        && result.GetValue(advertiseHost) is null)
    {
        result.AddError($"--inbound-address {bound} needs --advertise-host (the address peers call this instance at, e.g. the pod IP).");
    }
});
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0 || parsed.Action is not null)
{
    return await parsed.InvokeAsync();
}

IoScheduling.Use(IoScheduling.Parse(parsed.GetValue(io)));
var serviceName = parsed.GetRequiredValue(service);
var appCommand = parsed.GetValue(command) ?? [];
var app = parsed.GetRequiredValue(appUrl) is { Port: > 0 } given ? given : null;
if (app is null && appCommand.Length == 0)
{
    await Console.Error.WriteLineAsync("error: give --app-url (where the application listens) or a command to start after '--'.");
    return 2;
}

var instance = parsed.GetValue(instanceId) ?? $"{serviceName}-{Guid.NewGuid().ToString("N")[..6]}";
var options = new SidecarOptions
{
    Service = serviceName,
    InstanceId = instance,
    StateDirectory = parsed.GetValue(stateDir) ?? Path.Combine(Path.GetTempPath(), "aspiremesh", "proxies", instance),
    AppUrl = app ?? new Uri($"http://127.0.0.1:{PortAllocator.FreePort()}"),
    AppHealthPath = parsed.GetValue(appHealth) ?? "",
    AppHealthTimeout = TimeSpan.FromSeconds(parsed.GetValue(appHealthTimeout)),
    InboundAddress = IPAddress.Parse(parsed.GetRequiredValue(inboundAddress)),
    AdvertiseHost = parsed.GetValue(advertiseHost),
    InboundPort = parsed.GetValue(inboundPort),
    OutboundPort = parsed.GetValue(outboundPort),
    InboundHttp2Port = parsed.GetValue(inboundHttp2Port),
    OutboundHttp2Port = parsed.GetValue(outboundHttp2Port),
    AppProtocol = parsed.GetRequiredValue(appProtocol),
    AdminPort = parsed.GetValue(adminPort),
    TelemetryPort = parsed.GetValue(telemetryPort),
    ControlPlane = parsed.GetRequiredValue(controlPlane),
    AppCommand = appCommand,
    Telemetry = parsed.GetValue(telemetry) != "off",
    InboundMtls = parsed.GetValue(inboundMtls) != "off",
    MemoryReclaimSeconds = parsed.GetValue(memoryReclaim),
    CpuSliceMicroseconds = parsed.GetValue(cpuSlice),
    AccessLog = parsed.GetValue(telemetry) != "off" && parsed.GetValue(accessLog),
    BootstrapCredential = Environment.GetEnvironmentVariable(AspireMesh.Contracts.Security.BootstrapCredential.EnvironmentVariable),
};
return await Sidecar.RunAsync(options);
