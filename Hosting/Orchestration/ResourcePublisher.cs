using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;

namespace AspireMesh.Hosting.Orchestration;

/// <summary>
/// Publishes the AppHost's resources (their states and console lines) to the control plane for its dashboard:
/// <c>PUT /v1/resources</c> whenever a state changes (and every few seconds, so a restarted control plane learns them
/// again) and <c>POST /v1/resources/logs</c> in batches. Best effort: <see cref="Update"/> and <see cref="Line"/> only
/// touch memory and never wait; lines wait in a bounded queue that drops the oldest, and sending is retried with backoff
/// while the control plane is away. Nothing it does can stop the AppHost.
/// </summary>
internal sealed class ResourcePublisher : IAsyncDisposable
{
    /// <summary>Lines sent per request at most (the control plane takes up to 1000).</summary>
    public const int BatchSize = 500;

    /// <summary>Longest line queued; the rest is cut, as the control plane would.</summary>
    public const int MaxLineLength = 4096;

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
    private readonly HttpClient _http;
    private readonly Action<string>? _warn;
    private readonly int _maxQueuedLines;
    private readonly TimeSpan _flushInterval;
    private readonly TimeSpan _resendInterval;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ResourceStatus> _resources = new(StringComparer.Ordinal);
    private readonly Queue<(long Seq, ResourceLogLine Line)> _lines = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private long _nextSeq;
    private long _changes;
    private long _dropped;
    private bool _warned;

    /// <param name="controlPlane">The control plane's base URL.</param>
    /// <param name="adminToken">The token its write endpoints require.</param>
    /// <param name="warn">Told once when the control plane refuses what is sent (not when it is merely away).</param>
    /// <param name="maxQueuedLines">Lines kept while they cannot be sent; older ones are dropped.</param>
    /// <param name="flushInterval">How often queued lines are sent at most.</param>
    /// <param name="resendInterval">How often the snapshot is sent again without a change.</param>
    public ResourcePublisher(Uri controlPlane, string adminToken, Action<string>? warn = null, int maxQueuedLines = 2000,
        TimeSpan? flushInterval = null, TimeSpan? resendInterval = null)
    {
        // The control plane is on this machine: never through a proxy the user's environment names.
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = controlPlane, Timeout = TimeSpan.FromSeconds(5) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        _warn = warn;
        _maxQueuedLines = maxQueuedLines;
        _flushInterval = flushInterval ?? TimeSpan.FromMilliseconds(500);
        _resendInterval = resendInterval ?? TimeSpan.FromSeconds(5);
    }

    /// <summary>Lines dropped because the queue was full (the control plane away for long, or output faster than sending).</summary>
    public long DroppedLines => Interlocked.Read(ref _dropped);

    /// <summary>Starts sending in the background.</summary>
    public void Start() => _loop = Task.Run(() => LoopAsync(_stopping.Token));

    /// <summary>Records the current status of a resource (added the first time its name is seen).</summary>
    public void Update(ResourceStatus status)
    {
        lock (_gate)
        {
            _resources[status.Name] = status;
            _changes++;
        }

        Wake();
    }

    /// <summary>Queues one console line of <paramref name="resource"/>; drops the oldest queued line when full.</summary>
    public void Line(string resource, string text, bool isError, DateTimeOffset? at = null)
    {
        var line = new ResourceLogLine(resource, at ?? DateTimeOffset.UtcNow, text.Length > MaxLineLength ? string.Concat(text.AsSpan(0, MaxLineLength), "…") : text, isError);
        lock (_gate)
        {
            _lines.Enqueue((++_nextSeq, line));
            while (_lines.Count > _maxQueuedLines)
            {
                _lines.Dequeue();
                _dropped++;
            }
        }
    }

    /// <summary>Stops sending; what is still queued is not sent.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _http.Dispose();
        _stopping.Dispose();
        _wake.Dispose();
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (Exception ex) when (ex is SemaphoreFullException or ObjectDisposedException)
        {
            // Already awake, or stopped.
        }
    }

    private async Task LoopAsync(CancellationToken stopping)
    {
        var sentChanges = -1L;
        var lastSnapshot = DateTimeOffset.MinValue;
        var backoff = TimeSpan.Zero;
        while (!stopping.IsCancellationRequested)
        {
            await _wake.WaitAsync(backoff > TimeSpan.Zero ? backoff : _flushInterval, stopping).ConfigureAwait(false);
            try
            {
                long changes;
                ResourceSnapshot snapshot;
                lock (_gate)
                {
                    changes = _changes;
                    snapshot = new ResourceSnapshot([.. _resources.Values]);
                }

                if (snapshot.Resources.Count == 0)
                {
                    continue;
                }

                if (changes != sentChanges || DateTimeOffset.UtcNow - lastSnapshot > _resendInterval)
                {
                    using var response = await _http.PutAsJsonAsync("v1/resources", snapshot, MeshJsonContext.Default.ResourceSnapshot, stopping).ConfigureAwait(false);
                    if (!await AcceptedAsync(response, "PUT /v1/resources", warnWhenInvalid: true).ConfigureAwait(false))
                    {
                        backoff = Next(backoff);
                        continue;
                    }

                    sentChanges = changes;
                    lastSnapshot = DateTimeOffset.UtcNow;
                }

                while (!stopping.IsCancellationRequested && await SendLinesAsync(stopping).ConfigureAwait(false) is { } sent)
                {
                    if (!sent)
                    {
                        // Refused: most likely a control plane that restarted since the last snapshot; send it again first.
                        sentChanges = -1;
                        break;
                    }
                }

                backoff = TimeSpan.Zero;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException || ex is TaskCanceledException && !stopping.IsCancellationRequested)
            {
                // The control plane is away (not started yet, restarting, or stopped): keep the lines and try again later.
                sentChanges = -1;
                backoff = Next(backoff);
            }
        }
    }

    /// <summary>Sends one batch of queued lines: null when none was queued, true when accepted, false when refused.</summary>
    private async Task<bool?> SendLinesAsync(CancellationToken stopping)
    {
        List<(long Seq, ResourceLogLine Line)> batch;
        lock (_gate)
        {
            if (_lines.Count == 0)
            {
                return null;
            }

            batch = [.. _lines.Take(BatchSize)];
        }

        using var response = await _http.PostAsJsonAsync("v1/resources/logs", new ResourceLogBatch([.. batch.Select(b => b.Line)]), MeshJsonContext.Default.ResourceLogBatch, stopping).ConfigureAwait(false);
        var accepted = await AcceptedAsync(response, "POST /v1/resources/logs", warnWhenInvalid: false).ConfigureAwait(false);
        if (accepted || response.StatusCode != HttpStatusCode.UnprocessableEntity)
        {
            // Accepted, or refused for good (a bad token): either way these lines are done with. Lines dropped from the
            // queue meanwhile were older, so removing up to the last one sent never removes an unsent line.
            var last = batch[^1].Seq;
            lock (_gate)
            {
                while (_lines.Count > 0 && _lines.Peek().Seq <= last)
                {
                    _lines.Dequeue();
                }
            }
        }

        return accepted;
    }

    private async Task<bool> AcceptedAsync(HttpResponseMessage response, string request, bool warnWhenInvalid)
    {
        if (response.IsSuccessStatusCode)
        {
            return true;
        }

        if ((int)response.StatusCode is >= 400 and < 500 && (warnWhenInvalid || response.StatusCode != HttpStatusCode.UnprocessableEntity) && !_warned)
        {
            _warned = true;
            var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            _warn?.Invoke($"the control plane refused the AppHost's resources ({request}: {(int)response.StatusCode} {body}); the dashboard will not show them.");
        }

        if (response.StatusCode >= HttpStatusCode.InternalServerError)
        {
            throw new HttpRequestException($"{request} answered {(int)response.StatusCode}", null, response.StatusCode);
        }

        return false;
    }

    private static TimeSpan Next(TimeSpan backoff) =>
        backoff == TimeSpan.Zero ? TimeSpan.FromSeconds(1) : backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
}
