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
        // request it sees in HttpContext.Items. Nothing else in the proxy's path writes Items (were something to, this
        // would look for that middleware's own mark instead).
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
    [InlineData(false, false, HttpStatusCode.Forbidden, "")]
    [InlineData(false, true, HttpStatusCode.Forbidden, "")]
    public async Task Gate_DecidingAtOnceOrLater_LetsThroughOrStopsTheRequest(bool admit, bool decideLater, HttpStatusCode expected, string body)
    {
        bool Decide(HttpContext context)
        {
            if (!admit)
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
            }

            return admit;
        }

        // At once: a completed ValueTask, the path without an async step. Later: one that completes after a yield.
        Func<HttpContext, ValueTask<bool>> gate = decideLater
            ? async context =>
            {
                await Task.Yield();
                return Decide(context);
            }
            : context => new ValueTask<bool>(Decide(context));

        var (status, text) = await SendThroughGateAsync(gate);

        Assert.Equal(expected, status);
        Assert.Equal(body, text);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Gate_Throwing_RequestFailsWith500AndTheAppIsNotReached(bool later)
    {
        Func<HttpContext, ValueTask<bool>> gate = later
            ? async _ =>
            {
                await Task.Yield();
                throw new InvalidOperationException("gate failed");
            }
            : _ => throw new InvalidOperationException("gate failed");

        var (status, text) = await SendThroughGateAsync(gate);

        Assert.Equal(HttpStatusCode.InternalServerError, status);
        Assert.DoesNotContain("app", text, StringComparison.Ordinal);
    }

    /// <summary>Sends one request to a real listener whose pipeline is the gate, then an application answering "app".</summary>
    private static async Task<(HttpStatusCode Status, string Body)> SendThroughGateAsync(Func<HttpContext, ValueTask<bool>> gate)
    {
        await using var app = ListenerHost.CreateBuilder("http://127.0.0.1:0").Build();
        app.UseGate(gate);
        app.Run(context => context.Response.WriteAsync("app"));
        await app.StartAsync(Cancel);
        try
        {
            var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var client = new HttpClient();
            using var response = await client.GetAsync(new Uri(url), Cancel);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(Cancel));
        }
        finally
        {
            await app.StopAsync(Cancel);
        }
    }
}
