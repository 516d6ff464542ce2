using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>
/// Sends a copy of a request to a mirror service, off the request's path: the copy's answer is read and dropped,
/// its failures are only logged, so mirroring never changes or delays the primary response. Requests whose body is
/// larger than 64 KiB, or of unknown length, are not mirrored.
/// </summary>
internal sealed class RequestMirror(IProxyStateLookup state, MeshRandom random, ILogger<RequestMirror> logger) : IDisposable
{
    /// <summary>Header marking the copy, so the mirror can tell shadow traffic from real traffic.</summary>
    public const string Header = "x-mesh-mirror";

    private const int MaxBody = 64 * 1024;
    private static readonly HashSet<string> NotCopied = new(["Host", "Connection", "Transfer-Encoding", "Keep-Alive", "Upgrade", "Proxy-Connection", "TE", "Trailer", "Content-Length"], StringComparer.OrdinalIgnoreCase);
    private readonly HttpClient _client = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2), AllowAutoRedirect = false })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    public async ValueTask MirrorAsync(HttpContext context, Contracts.Config.RequestMirror filter)
    {
        if (random.NextDouble() * 100 >= filter.Percent
            || !state.TryGetCluster(filter.BackendRef.Name, out var cluster)
            || cluster.DestinationsState.AvailableDestinations is not { Count: > 0 } destinations)
        {
            return;
        }

        byte[]? body = null;
        if (context.Request.ContentLength is > 0)
        {
            if (context.Request.ContentLength > MaxBody)
            {
                return;
            }

            context.Request.EnableBuffering(MaxBody, MaxBody);
            body = new byte[(int)context.Request.ContentLength];
            await context.Request.Body.ReadExactlyAsync(body, context.RequestAborted).ConfigureAwait(false);
            context.Request.Body.Position = 0;
        }
        else if (context.Request.Headers.TransferEncoding.Count > 0)
        {
            return;
        }

        var destination = destinations[(int)(random.NextDouble() * destinations.Count) % destinations.Count];
        var copy = new HttpRequestMessage(new HttpMethod(context.Request.Method),
            new Uri(new Uri(destination.Model.Config.Address), $"{context.Request.PathBase}{context.Request.Path}{context.Request.QueryString}"));
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

        copy.Headers.Host = context.Request.Host.Value;
        copy.Headers.TryAddWithoutValidation(Header, "true");
        _ = SendAsync(copy, filter.BackendRef.Name);
    }

    public void Dispose() => _client.Dispose();

    private async Task SendAsync(HttpRequestMessage copy, string mirror)
    {
        try
        {
            using (copy)
            using (var response = await _client.SendAsync(copy, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false))
            {
                await response.Content.CopyToAsync(Stream.Null).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
        {
            ProxyEngineLog.MirrorFailed(logger, mirror, ex.Message);
        }
    }
}
