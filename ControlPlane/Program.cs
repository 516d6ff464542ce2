using System.Text.Encodings.Web;
using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane;
using AspireMesh.ControlPlane.Api;
using AspireMesh.ControlPlane.Config;
using AspireMesh.ControlPlane.Dashboard;
using AspireMesh.ControlPlane.Proxies;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.Security;
using AspireMesh.ControlPlane.State;
using AspireMesh.ControlPlane.Storage;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

// Settings files are read once, not watched (the given arguments can still say otherwise): a Linux user has 128 inotify
// instances, and the host's default watches the working directory and every folder under it.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false", .. args] });
builder.Configuration.AddCommandLine(args, new Dictionary<string, string>
{
    ["--config"] = $"{ControlPlaneOptions.SectionName}:{nameof(ControlPlaneOptions.ConfigPath)}",
    ["--state-dir"] = $"{ControlPlaneOptions.SectionName}:{nameof(ControlPlaneOptions.StateDirectory)}",
});
var options = builder.Configuration.GetSection(ControlPlaneOptions.SectionName).Get<ControlPlaneOptions>() ?? new ControlPlaneOptions();
if (options.ConfigPollInterval <= TimeSpan.Zero)
{
    await Console.Error.WriteLineAsync($"error: ControlPlane:ConfigPollInterval: {options.ConfigPollInterval} is not a positive interval (e.g. 00:00:02).");
    return 2;
}

builder.Services.Configure<ControlPlaneOptions>(builder.Configuration.GetSection(ControlPlaneOptions.SectionName));
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.TypeInfoResolverChain.Insert(0, MeshJsonContext.Default);
    // What proxies send (registrations, heartbeats, reports, certificate requests) is read like MeshJsonContext.Tolerant:
    // members this build does not know are skipped, so proxies a version ahead (a rollback of the control plane) keep
    // their registrations. What operators write is read strictly: the mesh config by its parser, the rest by StrictBody.
    o.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip;
    // Messages quote names ('catalog'); keep them readable instead of \u0027-escaped.
    o.SerializerOptions.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
});
builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp => new MeshStateStore(sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.PushDebounce, sp.GetRequiredService<TimeProvider>()));
builder.Services.AddSingleton<InstanceRegistry>();
builder.Services.AddSingleton<ProxyRegistry>();
builder.Services.AddSingleton<ConfigStore>();
builder.Services.AddSingleton<AspireMesh.ControlPlane.Resources.ResourceStore>();
builder.Services.AddSingleton(new StateDirectory(options.StateDirectory ?? StateDirectory.DefaultPath));
builder.Services.AddSingleton(sp => AdminToken.Resolve(Environment.GetEnvironmentVariable(AdminToken.EnvironmentVariable), sp.GetRequiredService<StateDirectory>(), Console.Out));
builder.Services.AddSingleton<CertificateAuthority>();
builder.Services.AddSingleton<ServerCertificate>();
// HTTPS listeners (an https:// URL in --urls) present a certificate of the mesh's own CA.
builder.WebHost.UseKestrelHttpsConfiguration();
builder.Services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>().Configure<IServiceProvider>((kestrel, services) =>
    kestrel.ConfigureHttpsDefaults(https => https.ServerCertificateSelector = (_, _) => services.GetRequiredService<ServerCertificate>().Current()));
builder.Services.AddSingleton<RevokedCredentials>();
builder.Services.AddSingleton<RegistrationGuard>();
builder.Services.AddSingleton(sp => new BootstrapCredentials(sp.GetRequiredService<StateDirectory>(), sp.GetRequiredService<TimeProvider>(),
    Environment.GetEnvironmentVariable(AspireMesh.Contracts.Security.BootstrapCredential.KeyEnvironmentVariable), sp.GetRequiredService<RevokedCredentials>()));
builder.Services.AddHostedService<LeaseExpiryService>();
builder.Services.AddHostedService<AspireMesh.ControlPlane.Consul.ConsulCheckProber>();
builder.Services.AddSingleton<AspireMesh.ControlPlane.Telemetry.ProxyReader>();
builder.Services.AddSingleton<ConfigFileWatcher>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<ConfigFileWatcher>());
builder.Services.AddSingleton<AspireMesh.ControlPlane.Telemetry.StatsCollector>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<AspireMesh.ControlPlane.Telemetry.StatsCollector>());
builder.Services.AddHealthChecks();
builder.Services.AddRateLimiter(limiter =>
{
    limiter.AddTokenBucketLimiter(ConfigApi.WritePolicy, bucket =>
    {
        bucket.TokenLimit = 20;
        bucket.TokensPerPeriod = 10;
        bucket.ReplenishmentPeriod = TimeSpan.FromSeconds(1);
        bucket.QueueLimit = 0;
    });
    limiter.OnRejected = (context, cancellationToken) =>
    {
        context.HttpContext.Response.Headers.RetryAfter = "1";
        return new ValueTask(Problems.Problem(new MeshProblem("Too many requests", StatusCodes.Status429TooManyRequests,
            "config writes are limited to 10 per second (bursts of 20); retry after a second.")).ExecuteAsync(context.HttpContext));
    };
});

var app = builder.Build();

try
{
    _ = app.Services.GetRequiredService<AdminToken>();
    _ = app.Services.GetRequiredService<BootstrapCredentials>();
    _ = app.Services.GetRequiredService<RevokedCredentials>();
    _ = app.Services.GetRequiredService<CertificateAuthority>();
    var serverCertificate = app.Services.GetRequiredService<ServerCertificate>();
    if (ServerCertificate.AnyHttps(app.Configuration["urls"]))
    {
        _ = serverCertificate.Current();
    }

    var store = app.Services.GetRequiredService<ConfigStore>();
    store.Load();
    var (configText, configSource) = !string.IsNullOrEmpty(options.ConfigPath)
        ? (await File.ReadAllTextAsync(Path.GetFullPath(options.ConfigPath)), $"file:{Path.GetFullPath(options.ConfigPath)}")
        : (options.Config, "setting:ControlPlane:Config");
    if (!string.IsNullOrEmpty(configText))
    {
        var result = MeshConfigParser.Parse(configText, string.IsNullOrEmpty(options.ConfigPath)
            ? MeshConfigParser.DetectFormat(configText, null)
            : ConfigFileWatcher.Format(configText, options.ConfigPath));
        if (!result.IsValid)
        {
            await Console.Error.WriteLineAsync($"error: mesh config {configSource} is invalid:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", result.Errors)}");
            return 2;
        }

        store.Apply(result.Config!, configSource, expectedVersion: null);
    }

    if (!string.IsNullOrEmpty(options.ConfigPath))
    {
        // From now on the file is applied again whenever it changes.
        app.Services.GetRequiredService<ConfigFileWatcher>().Started(configText ?? "");
    }
}
catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or CertificateRequestException)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 2;
}

app.UseExceptionHandler(errors => errors.Run(Problems.WriteExceptionAsync));
app.UseMiddleware<RemoteAdminGuard>();
app.UseRateLimiter();
app.MapHealthChecks("/health");
app.MapRegistryApi();
app.MapEurekaApi();
app.MapConsulApi();
app.MapWatchApi();
app.MapConfigApi();
app.MapProxiesApi();
app.MapTelemetryApi();
app.MapCertificatesApi();
app.MapResourcesApi();
app.MapDashboard();

try
{
    await app.RunAsync();
}
catch (IOException ex)
{
    await Console.Error.WriteLineAsync($"error: cannot listen: {ex.Message}");
    return 3;
}

return 0;

/// <summary>Entry point; public so functional tests can host the control plane in-process.</summary>
public partial class Program;
