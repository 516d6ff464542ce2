using System.Collections.Concurrent;
using System.Text.Json.Nodes;
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
/// With a <see cref="Rewrite"/>, it also changes the JSON messages it relays, both ways: adding a member to every
/// object (<see cref="AddToEveryObject"/>) makes the control plane look one version newer to the proxy, and the proxy
/// to the control plane.
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
    private readonly ConcurrentQueue<string> _rewritten = new();
    private int _heldWatches;

    private ControlPlaneRelay(WebApplication app, HttpClient upstream)
    {
        _app = app;
        _upstream = upstream;
    }

    /// <summary>
    /// Changes each JSON message relayed from now on: given what it is (<c>request PUT /v1/instances/x</c>,
    /// <c>response GET /v1/watch/...</c>) and its parsed body, to change in place.
    /// </summary>
    public Action<string, JsonNode>? Rewrite { get; set; }

    /// <summary>The JSON messages the relay rewrote, as <c>request PUT /v1/instances/x</c> or <c>response GET /v1/watch/...</c>.</summary>
    public IReadOnlyCollection<string> Rewritten => _rewritten;

    /// <summary>A <see cref="Rewrite"/> that adds <paramref name="member"/> (an object) to every JSON object of every message.</summary>
    public static Action<string, JsonNode> AddToEveryObject(string member) => (_, root) =>
    {
        var objects = new List<JsonObject>();
        Collect(root, objects);
        foreach (var obj in objects)
        {
            obj[member] = new JsonObject { ["note"] = "a member this build does not know" };
        }

        static void Collect(JsonNode? node, List<JsonObject> objects)
        {
            switch (node)
            {
                case JsonObject obj:
                    objects.Add(obj);
                    foreach (var (_, value) in obj)
                    {
                        Collect(value, objects);
                    }

                    break;
                case JsonArray array:
                    foreach (var item in array)
                    {
                        Collect(item, objects);
                    }

                    break;
            }
        }
    };

    /// <summary>The URL to give proxies as their control plane.</summary>
    public Uri Url { get; private set; } = null!;

    /// <summary>How many snapshot watches have been held so far.</summary>
    public int HeldWatches => Volatile.Read(ref _heldWatches);

    /// <summary>
    /// Starts a relay to <paramref name="controlPlane"/> that holds watches until released, or lets them through when
    /// <paramref name="holdWatches"/> is false.
    /// </summary>
    public static async Task<ControlPlaneRelay> StartAsync(Uri controlPlane, bool holdWatches = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var app = builder.Build();
        var relay = new ControlPlaneRelay(app, new HttpClient { BaseAddress = controlPlane, Timeout = Timeout.InfiniteTimeSpan });
        if (!holdWatches)
        {
            relay.ReleaseWatches();
        }

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

        var what = $"{context.Request.Method} {context.Request.Path}";
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path.ToUriComponent().TrimStart('/') + context.Request.QueryString);
        var rewrite = Rewrite;
        var rewriteRequest = rewrite is not null && context.Request.HasJsonContentType();
        if (rewriteRequest)
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
            request.Content = new ByteArrayContent(Apply(rewrite!, body.ToArray(), $"request {what}"));
        }
        else if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            request.Content = new StreamContent(context.Request.Body);
        }

        foreach (var (name, values) in context.Request.Headers)
        {
            if (!HopByHop.Contains(name) && !(rewriteRequest && name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                && !request.Headers.TryAddWithoutValidation(name, values.ToArray()))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
            }
        }

        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted).ConfigureAwait(false);
        // A long poll (a watch) may have waited since before the rewrite was set: its answer is rewritten as set now.
        rewrite = Rewrite;
        var rewriteResponse = rewrite is not null && response.Content.Headers.ContentType?.MediaType is { } media && media.EndsWith("json", StringComparison.Ordinal);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (!HopByHop.Contains(name) && !(rewriteResponse && name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
            {
                context.Response.Headers[name] = values.ToArray();
            }
        }

        if (rewriteResponse)
        {
            var body = await response.Content.ReadAsByteArrayAsync(context.RequestAborted).ConfigureAwait(false);
            await context.Response.Body.WriteAsync(Apply(rewrite!, body, $"response {what}"), context.RequestAborted).ConfigureAwait(false);
            return;
        }

        await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    private byte[] Apply(Action<string, JsonNode> rewrite, byte[] json, string what)
    {
        if (json.Length == 0 || JsonNode.Parse(json) is not { } root)
        {
            return json;
        }

        rewrite(what, root);
        _rewritten.Enqueue(what);
        return System.Text.Encoding.UTF8.GetBytes(root.ToJsonString());
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
