using System.Text.Encodings.Web;
using System.Text.Json.Serialization;
using AspireMesh.Contracts;
using AspireMesh.ControlPlane;
using AspireMesh.ControlPlane.Api;
using AspireMesh.ControlPlane.Dashboard;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.State;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Configuration.AddCommandLine(args, new Dictionary<string, string>
{
    ["--config"] = $"{ControlPlaneOptions.SectionName}:{nameof(ControlPlaneOptions.ConfigPath)}",
});
builder.Services.Configure<ControlPlaneOptions>(builder.Configuration.GetSection(ControlPlaneOptions.SectionName));
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.TypeInfoResolverChain.Insert(0, MeshJsonContext.Default);
    // Unknown fields are refused with a clear error rather than silently dropped (a typo must not pass unnoticed).
    o.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
    // Messages quote names ('catalog'); keep them readable instead of \u0027-escaped.
    o.SerializerOptions.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
});
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<MeshStateStore>();
builder.Services.AddSingleton<InstanceRegistry>();
builder.Services.AddHostedService<LeaseExpiryService>();
builder.Services.AddHealthChecks();
builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);

var app = builder.Build();

var configPath = app.Configuration[$"{ControlPlaneOptions.SectionName}:{nameof(ControlPlaneOptions.ConfigPath)}"];
if (!string.IsNullOrEmpty(configPath))
{
    try
    {
        var config = MeshConfigLoader.Load(configPath);
        app.Services.GetRequiredService<MeshStateStore>().SetConfig(config);
        ControlPlaneLog.ConfigLoaded(app.Logger, Path.GetFullPath(configPath), config.Services.Count, config.Routes.Count);
    }
    catch (MeshConfigException ex)
    {
        await Console.Error.WriteLineAsync($"error: {ex.Message}");
        return 2;
    }
}

app.UseExceptionHandler(errors => errors.Run(Problems.WriteExceptionAsync));
app.MapHealthChecks("/health");
app.MapRegistryApi();
app.MapWatchApi();
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
