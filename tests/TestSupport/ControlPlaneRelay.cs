using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireMesh.TestSupport;

/// <summary>
/// A real Kestrel server on loopback in front of a real control plane: it relays every request to it (certificates,
/// registration, heartbeats, reports) but holds the proxies' snapshot watches (<c>v1/watch/...</c>) until
/// <see cref="ReleaseWatches"/>, so a proxy given its URL runs without its first snapshot for as long as a test needs.
/// </summary>
public sealed class ControlPlaneRelay : IAsyncDisposable
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "TE", "Trailer", "Host",
    };

    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private int _heldWatches;

    private ControlPlaneRelay(WebApplication app, HttpClient upstream)
    {
        _app = app;
        _upstream = upstream;
    }

    /// <summary>The URL to give proxies as their control plane.</summary>
    public Uri Url { get; private set; } = null!;

    /// <summary>How many snapshot watches have been held so far.</summary>
    public int HeldWatches => Volatile.Read(ref _heldWatches);

    /// <summary>Starts a relay to <paramref name="controlPlane"/> that holds watches until released.</summary>
    public static async Task<ControlPlaneRelay> StartAsync(Uri controlPlane)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var app = builder.Build();
        var relay = new ControlPlaneRelay(app, new HttpClient { BaseAddress = controlPlane, Timeout = Timeout.InfiniteTimeSpan });
        app.Run(relay.RelayAsync);
        await app.StartAsync().ConfigureAwait(false);
        relay.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return relay;
    }

    /// <summary>Lets the held watches, and every later one, through to the control plane.</summary>
    public void ReleaseWatches() => _released.TrySetResult();

    private async Task RelayAsync(HttpContext context)
    {
        if (context.Request.Path.StartsWithSegments("/v1/watch", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _heldWatches);
            using var held = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
            await _released.Task.WaitAsync(held.Token).ConfigureAwait(false);
        }

        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path.ToUriComponent().TrimStart('/') + context.Request.QueryString);
        if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            request.Content = new StreamContent(context.Request.Body);
        }

        foreach (var (name, values) in context.Request.Headers)
        {
            if (!HopByHop.Contains(name) && !request.Headers.TryAddWithoutValidation(name, values.ToArray()))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
            }
        }

        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (!HopByHop.Contains(name))
            {
                context.Response.Headers[name] = values.ToArray();
            }
        }

        await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        // Watches still held end here, unanswered; the proxies that sent them are stopped first or ask again.
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _upstream.Dispose();
        _stopping.Dispose();
    }
}
