using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The defaults every .NET service in the mesh gets with one call, with the same surface as Aspire's ServiceDefaults
/// template: <c>builder.AddServiceDefaults()</c> and <c>app.MapDefaultEndpoints()</c>.
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>Path of the readiness endpoint: every health check must pass.</summary>
    public const string HealthPath = "/health";

    /// <summary>Path of the liveness endpoint: only checks tagged <c>live</c>.</summary>
    public const string AlivePath = "/alive";

    /// <summary>
    /// Adds OpenTelemetry (exported over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set), default health checks and
    /// HttpClient defaults. Calls to <c>http://&lt;service&gt;/</c> reach the service through the sidecar, which the
    /// AppHost announces with the standard <c>HTTP_PROXY</c> variable that every HttpClient honours; without a sidecar,
    /// names resolve from <c>services__{name}__{endpoint}__{i}</c> configuration, and clients get retries, a circuit
    /// breaker and timeouts (behind a sidecar, which retries itself, only the total timeout).
    /// </summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddSingleton<ServiceEndpointResolver>();
        builder.Services.AddSingleton(TimeProvider.System);
        var behindSidecar = !string.IsNullOrEmpty(builder.Configuration["HTTP_PROXY"] ?? builder.Configuration["http_proxy"]);
        builder.Services.AddSingleton(sp => ResilienceHandler.Create(behindSidecar, sp.GetRequiredService<TimeProvider>()));
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            // Outermost first: resilience wraps discovery, so every retry resolves (and balances) again.
            http.AddHttpMessageHandler(sp => new ResilienceHandler(sp.GetRequiredService<Polly.ResiliencePipeline<HttpResponseMessage>>()));
            http.AddHttpMessageHandler(sp => new ServiceDiscoveryHandler(sp.GetRequiredService<ServiceEndpointResolver>()));
        });
        return builder;
    }

    /// <summary>Adds tracing, metrics and logging through OpenTelemetry, with OTLP export when an endpoint is configured.</summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var export = ExportsTelemetry(builder.Configuration);
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
            if (export)
            {
                logging.AddOtlpExporter();
            }
        });
        builder.Services.AddHostedService(_ => new TelemetryProviders(export));
        return builder;
    }

    /// <summary>
    /// Whether <see cref="ConfigureOpenTelemetry"/> exports over OTLP with this configuration (recording spans as the
    /// configured sampler decides): when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set and <c>OTEL_SDK_DISABLED</c> is not
    /// <c>true</c> (the specification's switch that turns the SDK off, which OpenTelemetry's providers honour too).
    /// </summary>
    public static bool ExportsTelemetry(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
            && !(bool.TryParse(configuration["OTEL_SDK_DISABLED"]?.Trim(), out var disabled) && disabled);
    }

    /// <summary>Adds a <c>self</c> liveness check.</summary>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>Maps <c>/health</c> (all checks) and <c>/alive</c> (checks tagged <c>live</c>).</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks(HealthPath);
        app.MapHealthChecks(AlivePath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        return app;
    }

    /// <summary>
    /// Builds the tracer and meter providers for the process's lifetime (the hosting integration package is not
    /// available here, so this does its small part). .NET emits the ASP.NET Core and HttpClient activities and
    /// metrics natively; this subscribes to them.
    /// </summary>
    private sealed class TelemetryProviders(bool export) : IHostedService, IDisposable
    {
        private TracerProvider? _tracer;
        private MeterProvider? _meter;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (!export)
            {
                return Task.CompletedTask;
            }

            _tracer = Sdk.CreateTracerProviderBuilder()
                .AddSource("Microsoft.AspNetCore", "System.Net.Http")
                .AddOtlpExporter()
                .Build();
            _meter = Sdk.CreateMeterProviderBuilder()
                .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Net.Http", "System.Runtime", "AspireMesh.Proxy")
                .AddOtlpExporter()
                .Build();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            _tracer?.ForceFlush(2000);
            _meter?.ForceFlush(2000);
            return Task.CompletedTask;
        }

        public void Dispose()
        {
            _tracer?.Dispose();
            _meter?.Dispose();
        }
    }
}
