using System.Text.Json;
using AspireMesh.Contracts.Security;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Authentication;

/// <summary>
/// The signing keys published at a JWKS URL: fetched when first needed, kept for <see cref="RefreshInterval"/>, and
/// fetched again early when a token names a key id not among them, but never more often than every
/// <see cref="MinimumInterval"/>, so tokens with made-up key ids cannot turn the gateway against the key server. When a
/// fetch fails the previous keys stay in use.
/// </summary>
internal sealed class JwksKeySource(Uri uri, HttpClient http, TimeProvider time, ILogger logger)
{
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(10);

    public static readonly TimeSpan MinimumInterval = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(5);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile IReadOnlyList<SigningKey> _keys = [];
    private DateTimeOffset _fetched = DateTimeOffset.MinValue;
    private DateTimeOffset _attempted = DateTimeOffset.MinValue;

    public Uri Uri => uri;

    /// <summary>The current keys, fetched first when there are none, they are old, or <paramref name="unknownKid"/> asks for newer ones.</summary>
    public async ValueTask<IReadOnlyList<SigningKey>> KeysAsync(bool unknownKid, CancellationToken cancellationToken)
    {
        if (!ShouldFetch(unknownKid))
        {
            return _keys;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (ShouldFetch(unknownKid))
            {
                await FetchAsync(cancellationToken).ConfigureAwait(false);
            }

            return _keys;
        }
        finally
        {
            _gate.Release();
        }
    }

    private bool ShouldFetch(bool unknownKid)
    {
        var now = time.GetUtcNow();
        var wanted = _keys.Count == 0 || unknownKid || now - _fetched >= RefreshInterval;
        return wanted && now - _attempted >= MinimumInterval;
    }

    private async Task FetchAsync(CancellationToken cancellationToken)
    {
        _attempted = time.GetUtcNow();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(FetchTimeout);
        try
        {
            using var response = await http.GetAsync(uri, timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                ProxyEngineLog.JwksFetchFailed(logger, uri, $"it answered {(int)response.StatusCode}");
                return;
            }

            using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false),
                cancellationToken: timeout.Token).ConfigureAwait(false);
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Array)
            {
                ProxyEngineLog.JwksFetchFailed(logger, uri, "the document has no \"keys\" array");
                return;
            }

            var read = new List<SigningKey>();
            foreach (var key in keys.EnumerateArray())
            {
                if (key.ValueKind == JsonValueKind.Object && SigningKeyReader.TryRead(name => key.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null, out _) is { } signingKey)
                {
                    read.Add(signingKey);
                }
            }

            _keys = read;
            _fetched = time.GetUtcNow();
            ProxyEngineLog.JwksFetched(logger, read.Count, uri);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            ProxyEngineLog.JwksFetchFailed(logger, uri, ex.Message);
        }
    }
}
