using System.CommandLine;
using AspireMesh.Cli;
using AspireMesh.Contracts.Client;
using AspireMesh.ProxyEngine.Hosting;

try
{
    Commands.Trust = ControlPlaneTrust.FromEnvironment();
}
catch (InvalidDataException ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 2;
}

var controlPlane = CommandLineOptions.Url("--control-plane", "Control plane base URL (default: $ASPIREMESH_CONTROL_PLANE or http://localhost:8761/).",
    new Uri(Environment.GetEnvironmentVariable("ASPIREMESH_CONTROL_PLANE") is { Length: > 0 } url ? url : "http://localhost:8761/"));
controlPlane.Recursive = true;
var window = new Option<string>("--window") { Description = "The recent window the rates cover (e.g. 10s, 1m).", DefaultValueFactory = _ => "10s" };
var tapMax = new Option<int>("--max") { Description = "Stop after this many requests (0 = until Ctrl+C)." };
var topDuration = new Option<string>("--duration") { Description = "How long to watch before printing the table.", DefaultValueFactory = _ => "5s" };
var topOnce = new Option<bool>("--once") { Description = "Print one table and exit (default: a new table every --duration until Ctrl+C)." };
var filters = TapFilters.Options();
var token = new Option<string?>("--token") { Description = "Admin token (default: $ASPIREMESH_ADMIN_TOKEN)." };
var file = new Option<FileInfo>("--file", "-f") { Description = "The mesh config (YAML or JSON).", Required = true };
var ifMatch = new Option<long?>("--if-match") { Description = "Apply only if the current config version is this one." };
var version = new Argument<long>("version") { Description = "The config version to roll back to." };

var stat = new Command("stat", "Golden metrics per service, edge and route: requests/s, success rate, p50/p95/p99.") { window };
stat.SetAction((r, ct) => Commands.StatAsync(r.GetRequiredValue(controlPlane), r.GetRequiredValue(window), Console.Out, ct));
var tap = new Command("tap", "Stream the requests the proxies handle, as they happen.") { tapMax };
var top = new Command("top", "The busiest paths: requests, success and latency, from the live tap.") { topDuration, topOnce };
foreach (var option in filters)
{
    tap.Options.Add(option);
    top.Options.Add(option);
}

tap.SetAction((r, ct) => Commands.TapAsync(r.GetRequiredValue(controlPlane), TapFilters.Query(r, filters), r.GetValue(tapMax), Console.Out, ct));
top.SetAction((r, ct) => Commands.TopAsync(r.GetRequiredValue(controlPlane), TapFilters.Query(r, filters), r.GetRequiredValue(topDuration), r.GetValue(topOnce), Console.Out, ct));
var check = new Command("check", "Is the mesh healthy? Control plane reachable, every proxy on the latest config, instances healthy, certificates valid.");
check.SetAction((r, ct) => Commands.CheckAsync(r.GetRequiredValue(controlPlane), Console.Out, ct));
var plan = new Command("plan", "What applying a config would change, per proxy.") { file, token };
plan.SetAction((r, ct) => Commands.ConfigPlanAsync(r.GetRequiredValue(controlPlane), r.GetRequiredValue(file), r.GetValue(token), Console.Out, ct));
var apply = new Command("apply", "Apply a config (refused whole, with every error, if invalid).") { file, token, ifMatch };
apply.SetAction((r, ct) => Commands.ConfigApplyAsync(r.GetRequiredValue(controlPlane), r.GetRequiredValue(file), r.GetValue(token), r.GetValue(ifMatch), Console.Out, ct));
var rollback = new Command("rollback", "Make an earlier config version current again.") { version, token };
rollback.SetAction((r, ct) => Commands.ConfigRollbackAsync(r.GetRequiredValue(controlPlane), r.GetValue(version), r.GetValue(token), Console.Out, ct));
var config = new Command("config", "Plan, apply or roll back the mesh config.") { plan, apply, rollback };

var service = new Argument<string>("service") { Description = "The service whose instances the token may register, renew and remove." };
var kind = new Argument<string>("kind") { Description = "The proxy's kind: sidecar or gateway." };
var name = new Argument<string>("name") { Description = "The service (or gateway) the proxy is for." };
var instance = new Option<string?>("--instance") { Description = "The one instance it is for (default: any one instance, each once)." };
var lifetime = new Option<string?>("--lifetime") { Description = "How long it is good for, e.g. 720h (default: 30 days for a registration token, a day for a bootstrap credential)." };
var registrationToken = new Command("registration-token", "Mint a registration token for an application's instances of a service (a Eureka client's password, a Consul client's ACL token).")
{
    service, lifetime, token,
};
registrationToken.SetAction((r, ct) => Commands.MintRegistrationTokenAsync(r.GetRequiredValue(controlPlane), r.GetRequiredValue(service), r.GetValue(lifetime), r.GetValue(token),
    Console.Out, Console.Error, ct));
var bootstrap = new Command("bootstrap", "Mint a bootstrap credential for a proxy started by hand (its ASPIREMESH_BOOTSTRAP_TOKEN).") { kind, name, instance, lifetime, token };
bootstrap.SetAction((r, ct) => Commands.MintBootstrapCredentialAsync(r.GetRequiredValue(controlPlane), r.GetRequiredValue(kind), r.GetRequiredValue(name), r.GetValue(instance),
    r.GetValue(lifetime), r.GetValue(token), Console.Out, Console.Error, ct));
var revoked = new Argument<string>("credential") { Description = "The registration token (amr1....) or bootstrap credential (amb1....) to refuse from now on; - reads it from standard input." };
var revoke = new Command("revoke", "Revoke a registration token or a bootstrap credential before its expiry (a proxy whose token is revoked renews its certificate for a new one).")
{
    revoked, token,
};
revoke.SetAction((r, ct) => Commands.RevokeAsync(r.GetRequiredValue(controlPlane), r.GetRequiredValue(revoked), r.GetValue(token), Console.In, Console.Out, ct));
var credentials = new Command("credentials", "Mint credentials (printed alone on standard output, their expiry on standard error) or revoke one; needs the admin token.")
{
    registrationToken, bootstrap, revoke,
};

var root = new RootCommand("aspiremesh: see and operate an AspireMesh from the terminal.") { controlPlane, stat, top, tap, check, config, credentials };
return await root.Parse(args).InvokeAsync();
