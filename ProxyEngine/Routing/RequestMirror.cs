using System.Collections.Concurrent;
using System.Net;
using AspireMesh.Contracts.Security;
using AspireMesh.ProxyEngine.Retries;
using AspireMesh.ProxyEngine.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>
/// Sends a copy of a request to a mirror service, off the request's path: the copy's answer is read and dropped,
/// its failures are only logged, so mirroring never changes or delays the primary response. Requests whose body is
/// larger than 64 KiB, or of unknown length (chunked, an HTTP/2 stream without content-length), are not mirrored. The copy goes as a forwarded request to that service
/// would: through its cluster's own client (mTLS with the mirror's mesh identity, HTTP/2 where the cluster uses it),
/// with <see cref="MeshHeaders.Source"/>, and the caller's Host, which crosses an mTLS hop in
/// <see cref="MeshHeaders.Authority"/> (<see cref="MeshAuthority"/>). Copies in flight to a mirror are bounded, so that
/// a slow or hanging mirror cannot pile up copies (each held up to 30 s, with its body) in the proxy: by the mirror
/// service's connection limits, which its own requests from this proxy share (<see cref="InFlightRequests"/>, as Envoy
/// counts shadow requests against the shadow cluster's circuit breakers), or else by <see cref="DefaultCapacity"/>.
/// A copy over the bound is dropped, never waited for, and counted (<c>mesh_mirror_dropped_total</c>); the drops are
/// logged at most every <see cref="DropLogInterval"/> per mirror.
/// </summary>
internal sealed class RequestMirror(IProxyStateLookup state, RouteTable routes, InFlightRequests inFlight, RequestMetrics metrics, MeshRandom random,
    ProxyEngineOptions options, ILogger<RequestMirror> logger)
{
    /// <summary>Copies in flight to one mirror without connection limits: Envoy's default for a cluster's requests in flight.</summary>
    public const int DefaultCapacity = 1024;

    public static readonly TimeSpan DropLogInterval = TimeSpan.FromSeconds(10);

    /// <summary>Header marking the copy, so the mirror can tell shadow traffic from real traffic.</summary>
    public const string Header = "x-mesh-mirror";

    private const int MaxBody = 64 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    // What the copy's own hop decides, and what only this proxy may write.
    private static readonly HashSet<string> NotCopied = new(["Host", "Connection", "Transfer-Encoding", "Keep-Alive", "Upgrade", "Proxy-Connection", "TE", "Trailer",
        "Content-Length", MeshHeaders.Source, MeshHeaders.Authority, Header], StringComparer.OrdinalIgnoreCase);

    private readonly string _source = SpiffeId.WorkloadName(options.Kind, options.Name);
    private readonly ConcurrentDictionary<string, Drops> _drops = new(StringComparer.Ordinal);

    public async ValueTask MirrorAsync(HttpContext context, Contracts.Config.RequestMirror filter)
    {
        if (random.NextDouble() * 100 >= filter.Percent
            || !state.TryGetCluster(filter.BackendRef.Name, out var cluster)
            || cluster.DestinationsState.AvailableDestinations is not { Count: > 0 } destinations)
        {
            return;
        }

        // Kestrel knows whether a body follows: a length, chunks, or (HTTP/2 and 3) DATA frames without a length.
        var canHaveBody = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody
            ?? (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0);
        // Of unknown length (chunked, or a stream such as gRPC's), or too large: not mirrored.
        if (canHaveBody && context.Request.ContentLength is not (>= 0 and <= MaxBody))
        {
            return;
        }

        var mirror = filter.BackendRef.Name;
        var capacity = routes.Backend(mirror)?.ConnectionLimits is { } limits ? limits.MaxConnections + limits.MaxPendingRequests : DefaultCapacity;
        if (!inFlight.TryEnter(mirror, capacity))
        {
            Dropped(mirror, capacity);
            return;
        }

        HttpRequestMessage copy;
        try
        {
            copy = await CopyAsync(context, cluster.Model, destinations).ConfigureAwait(false);
        }
        catch
        {
            inFlight.Exit(mirror);
            throw;
        }

        _ = SendAsync(cluster.Model.HttpClient, copy, mirror);
    }

    private async ValueTask<HttpRequestMessage> CopyAsync(HttpContext context, ClusterModel model, IReadOnlyList<DestinationState> destinations)
    {
        byte[]? body = null;
        if (context.Request.ContentLength is > 0 and var length)
        {
            context.Request.EnableBuffering(MaxBody, MaxBody);
            body = new byte[(int)length];
            await context.Request.Body.ReadExactlyAsync(body, context.RequestAborted).ConfigureAwait(false);
            context.Request.Body.Position = 0;
        }

        var destination = destinations[(int)(random.NextDouble() * destinations.Count) % destinations.Count];
        var copy = new HttpRequestMessage(new HttpMethod(context.Request.Method),
            new Uri(new Uri(destination.Model.Config.Address), $"{context.Request.PathBase}{context.Request.Path}{context.Request.QueryString}"))
        {
            Version = model.Config.HttpRequest?.Version ?? HttpVersion.Version11,
            VersionPolicy = model.Config.HttpRequest?.VersionPolicy ?? HttpVersionPolicy.RequestVersionOrLower,
        };
        foreach (var (name, values) in context.Request.Headers)
        {
            if (!NotCopied.Contains(name) && !copy.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                copy.Content ??= new ByteArrayContent(body ?? []);
                copy.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        if (body is not null)
        {
            copy.Content ??= new ByteArrayContent(body);
        }

        if (context.Request.Host.HasValue)
        {
            if (model.Config.Metadata?.ContainsKey(Hosting.MeshForwarderHttpClientFactory.IdentityMetadata) == true)
            {
                copy.Headers.TryAddWithoutValidation(MeshHeaders.Authority, context.Request.Host.Value);
            }
            else
            {
                copy.Headers.Host = context.Request.Host.Value;
            }
        }

        copy.Headers.TryAddWithoutValidation(MeshHeaders.Source, _source);
        copy.Headers.TryAddWithoutValidation(Header, "true");
        return copy;
    }

    /// <summary>Counts a copy dropped over the bound, and logs the drops at most once per <see cref="DropLogInterval"/>.</summary>
    private void Dropped(string mirror, int capacity)
    {
        metrics.RecordMirrorDropped(mirror);
        var drops = _drops.GetOrAdd(mirror, static _ => new Drops());
        Interlocked.Increment(ref drops.Count);
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref drops.LoggedAt);
        if (now - last >= (long)DropLogInterval.TotalMilliseconds && Interlocked.CompareExchange(ref drops.LoggedAt, now, last) == last)
        {
            ProxyEngineLog.MirrorCopiesDropped(logger, mirror, capacity, Interlocked.Exchange(ref drops.Count, 0));
        }
    }

    private async Task SendAsync(HttpMessageInvoker client, HttpRequestMessage copy, string mirror)
    {
        try
        {
            using var timeout = new CancellationTokenSource(Timeout);
            using (copy)
            using (var response = await client.SendAsync(copy, timeout.Token).ConfigureAwait(false))
            {
                await response.Content.CopyToAsync(Stream.Null, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            ProxyEngineLog.MirrorFailed(logger, mirror, ex.Message);
        }
        finally
        {
            inFlight.Exit(mirror);
        }
    }

    private sealed class Drops
    {
        public long Count;
        public long LoggedAt = long.MinValue / 2;
    }
}
