using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireMesh.TestSupport;

/// <summary>
/// A real Kestrel server on a free loopback port that answers with its own name, records the requests it got, and
/// can be told to answer differently. Stands in for an application or a peer sidecar.
/// </summary>
public sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestBackend(string name, WebApplication app)
    {
        Name = name;
        _app = app;
    }

    /// <summary>Name written in every answer (body and x-backend header).</summary>
    public string Name { get; }

    /// <summary>Base URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Url { get; private set; } = null!;

    /// <summary>Requests received: method and path.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>When set, handles requests instead of the default answer.</summary>
    public Func<HttpContext, Task>? Handler { get; set; }

    /// <summary>A handler for a server that never answers: it holds the request until the caller gives up.</summary>
    public static Task HangUntilAborted(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        context.RequestAborted.Register(() => aborted.TrySetResult());
        return aborted.Task;
    }

    /// <summary>Starts a backend named <paramref name="name"/> speaking HTTP/1.1.</summary>
    public static Task<TestBackend> StartAsync(string name) => StartAsync(name, HttpProtocols.Http1AndHttp2);

    /// <summary>
    /// Starts a backend named <paramref name="name"/> speaking <paramref name="protocols"/> (without TLS:
    /// <see cref="HttpProtocols.Http2"/> is HTTP/2 with prior knowledge, like a gRPC server).
    /// </summary>
    public static async Task<TestBackend> StartAsync(string name, HttpProtocols protocols)
    {
        // Watching no settings files: a test run starts many backends at once, and a Linux user has 128 inotify instances.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = protocols);
        });
        var app = builder.Build();
        var backend = new TestBackend(name, app);
        app.UseWebSockets();
        app.Run(async context =>
        {
            backend.Requests.Enqueue($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString}");
            if (backend.Handler is { } handler)
            {
                await handler(context).ConfigureAwait(false);
                return;
            }

            context.Response.Headers["x-backend"] = name;
            context.Response.Headers["x-backend-protocol"] = context.Request.Protocol;
            await context.Response.WriteAsync($"{name} {context.Request.Method} {context.Request.Path}").ConfigureAwait(false);
        });
        await app.StartAsync().ConfigureAwait(false);
        backend.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return backend;
    }

    /// <summary>Stops the server: connections to its port are refused from then on.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
