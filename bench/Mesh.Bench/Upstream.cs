using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace AspireMesh.Mesh.Bench;

/// <summary>
/// The upstream every scenario calls: a minimal Kestrel app answering any path with the same 1 KB body, on an
/// HTTP/1.1 port and an HTTP/2 (h2c, prior knowledge) port. Runs as its own process (<c>upstream</c> mode of the bench).
/// </summary>
internal static class Upstream
{
    public const int BodySize = 1024;

    public static async Task<int> RunAsync(int http1Port, int http2Port)
    {
        var body = new byte[BodySize];
        Array.Fill(body, (byte)'x');
        // Watching no settings files, like the proxies (ListenerHost).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.ListenLocalhost(http1Port, l => l.Protocols = HttpProtocols.Http1);
            k.ListenLocalhost(http2Port, l => l.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        app.Run(context =>
        {
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = BodySize;
            return context.Response.Body.WriteAsync(body).AsTask();
        });
        app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"upstream listening on {http1Port} (HTTP/1.1) and {http2Port} (h2c)"));
        await app.RunAsync().ConfigureAwait(false);
        return 0;
    }
}
