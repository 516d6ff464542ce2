using System.Net;
using AspireMesh.ProxyEngine.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AspireMesh.ProxyEngine.Tests.Hosting;

/// <summary>What runs in a proxy's request pipeline, and the gates its listeners put in it.</summary>
public sealed class PipelineTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ProxiedRequest_AspNetCoresAuthorizationMiddlewareDoesNotRun()
    {
        // YARP registers ASP.NET Core's authorization services; a web application with them would run the
        // authorization middleware on every request, ahead of the application's own middleware, and it marks each
        // request it sees in HttpContext.Items. The mesh authorizes in its own middleware, so nothing should be there.
        int? items = null;
        await using var backend = await TestBackend.StartAsync("app");
        await using var engine = await EngineHost.StartAsync(beforeRoutes: app => app.Use((context, next) =>
        {
            items = context.Items.Count;
            return next(context);
        }));
        await engine.ApplyAsync(EngineHost.HostSnapshot(1, "catalog", backend.Url));

        using var response = await engine.GetAsync("catalog");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, items);
    }

    [Theory]
    [InlineData(true, false, HttpStatusCode.OK, "app")]
    [InlineData(true, true, HttpStatusCode.OK, "app")]
    [InlineData(false, false, HttpStatusCode.Forbidden, "refused")]
    [InlineData(false, true, HttpStatusCode.Forbidden, "refused")]
    public async Task Gate_DecidingAtOnceOrLater_LetsThroughOrStopsTheRequest(bool admit, bool decideLater, HttpStatusCode expected, string body)
    {
        var builder = ListenerHost.CreateBuilder("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.UseGate(async context =>
        {
            if (decideLater)
            {
                await Task.Yield();
            }

            if (!admit)
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync("refused");
            }

            return admit;
        });
        app.Run(context => context.Response.WriteAsync("app"));
        await app.StartAsync(Cancel);
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var client = new HttpClient();

        using var response = await client.GetAsync(new Uri(url), Cancel);

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsStringAsync(Cancel));
    }
}
