using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace AspireMesh.ServiceDefaults.Tests;

public sealed class ServiceDefaultsExtensionsTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<(WebApplication App, HttpClient Client)> StartAsync(Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddServiceDefaults();
        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        await app.StartAsync(Cancel);
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new HttpClient { BaseAddress = new Uri(url) });
    }

    [Theory]
    [InlineData("http://127.0.0.1:4318", null, true)]
    [InlineData("http://127.0.0.1:4318", "false", true)]
    [InlineData("http://127.0.0.1:4318", "bogus", true)]
    [InlineData("http://127.0.0.1:4318", "true", false)]
    [InlineData("http://127.0.0.1:4318", " TRUE ", false)]
    [InlineData(null, null, false)]
    [InlineData(" ", null, false)]
    public void ExportsTelemetry_EndpointAndSdkDisabled_ExportsOnlyWithAnEndpointAndTheSdkOn(string? endpoint, string? sdkDisabled, bool exports)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint,
            ["OTEL_SDK_DISABLED"] = sdkDisabled,
        }).Build();

        Assert.Equal(exports, ServiceDefaultsExtensions.ExportsTelemetry(configuration));
    }

    [Fact]
    public async Task MapDefaultEndpoints_HealthyService_HealthAndAliveAnswer200()
    {
        var (app, client) = await StartAsync();
        await using (app)
        using (client)
        {
            Assert.Equal("Healthy", await client.GetStringAsync(ServiceDefaultsExtensions.HealthPath, Cancel));
            Assert.Equal("Healthy", await client.GetStringAsync(ServiceDefaultsExtensions.AlivePath, Cancel));
        }
    }

    [Fact]
    public async Task MapDefaultEndpoints_DependencyCheckFails_HealthIs503ButAliveStays200()
    {
        var (app, client) = await StartAsync(b => b.Services.AddHealthChecks().AddCheck("database", () => HealthCheckResult.Unhealthy("down")));
        await using (app)
        using (client)
        {
            using var health = await client.GetAsync(ServiceDefaultsExtensions.HealthPath, Cancel);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            using var alive = await client.GetAsync(ServiceDefaultsExtensions.AlivePath, Cancel);
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        }
    }

    [Fact]
    public async Task AddServiceDefaults_RegistersHttpClientFactory()
    {
        var (app, client) = await StartAsync();
        await using (app)
        using (client)
        {
            Assert.NotNull(app.Services.GetService<IHttpClientFactory>());
        }
    }
}
