using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AspireMesh.ServiceDefaults.Tests;

/// <summary>HttpClient defaults: name resolution from configuration when there is no sidecar, and resilience.</summary>
public sealed class HttpClientDefaultsTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static (IHost Host, HttpClient Client) Start(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        var host = builder.Build();
        return (host, host.Services.GetRequiredService<IHttpClientFactory>().CreateClient());
    }

    [Fact]
    public async Task Discovery_TwoConfiguredAddresses_UsedInTurn()
    {
        await using var first = await TestBackend.StartAsync("first");
        await using var second = await TestBackend.StartAsync("second");
        var (host, client) = Start(new()
        {
            ["services:catalog:http:0"] = first.Url.ToString(),
            ["services:catalog:http:1"] = second.Url.ToString(),
        });
        using (host)
        using (client)
        {
            var served = new List<string>();
            for (var i = 0; i < 4; i++)
            {
                using var response = await client.GetAsync("http://catalog/items", Cancel);
                served.Add(response.Headers.GetValues("x-backend").Single());
            }

            Assert.Equal(["first", "second", "first", "second"], served);
            Assert.All(first.Requests.Concat(second.Requests), r => Assert.Equal("GET /items", r));
        }
    }

    [Fact]
    public void Resolve_SchemesAndNamedEndpoints_FollowAspireRules()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["services:catalog:http:0"] = "http://10.0.0.1:8080",
            ["services:catalog:https:0"] = "https://10.0.0.2:8443",
            ["services:catalog:admin:0"] = "http://10.0.0.3:9000",
            ["services:basket:http"] = "10.0.0.4:7000",
        }).Build();
        var resolver = new ServiceEndpointResolver(configuration);

        Assert.Equal("https://10.0.0.2:8443/a", resolver.Resolve(new Uri("https+http://catalog/a"))!.ToString());
        Assert.Equal("http://10.0.0.1:8080/a", resolver.Resolve(new Uri("http+https://catalog/a"))!.ToString());
        Assert.Equal("http://10.0.0.3:9000/a?x=1", resolver.Resolve(new Uri("http://_admin.catalog/a?x=1"))!.ToString());
        Assert.Equal("http://10.0.0.4:7000/", resolver.Resolve(new Uri("http://basket/"))!.ToString());
        Assert.Null(resolver.Resolve(new Uri("http://unknown/")));
    }

    [Fact]
    public async Task Resilience_TransientFailureThenSuccess_RetriedAndSucceeds()
    {
        var calls = 0;
        await using var flaky = await TestBackend.StartAsync("flaky");
        flaky.Handler = context =>
        {
            context.Response.StatusCode = Interlocked.Increment(ref calls) == 1 ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
            return Task.CompletedTask;
        };
        var (host, client) = Start(new() { ["services:catalog:http:0"] = flaky.Url.ToString() });
        using (host)
        using (client)
        {
            using var response = await client.GetAsync("http://catalog/", Cancel);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(2, calls);
        }
    }

    [Fact]
    public async Task Resilience_BehindSidecar_NotRetriedByTheClient()
    {
        var calls = 0;
        await using var failing = await TestBackend.StartAsync("failing");
        failing.Handler = context =>
        {
            Interlocked.Increment(ref calls);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        };
        // HTTP_PROXY in configuration says a sidecar retries for this app; the request itself goes direct here.
        var (host, client) = Start(new() { ["services:catalog:http:0"] = failing.Url.ToString(), ["HTTP_PROXY"] = "http://127.0.0.1:1" });
        using (host)
        using (client)
        {
            using var response = await client.GetAsync("http://catalog/", Cancel);

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal(1, calls);
        }
    }
}
