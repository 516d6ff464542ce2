using System.Net.Http.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.ControlPlane.Proxies;
using AspireMesh.ControlPlane.State;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Telemetry;

/// <summary>
/// Collects every live proxy's cumulative request statistics (<c>/stats</c> on its admin listener) at a steady interval
/// and keeps two minutes of them, so golden metrics over any recent window are differences of two collections.
/// </summary>
internal sealed class StatsCollector(ProxyRegistry proxies, MeshStateStore state, IOptions<ControlPlaneOptions> options, TimeProvider time,
    ProxyReader reader, ILogger<StatsCollector> logger) : BackgroundService
{
    private const int Kept = 61;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1.5);
    private readonly Lock _gate = new();
    private readonly List<Collection> _collections = [];

    /// <summary>One round of collection: each proxy's cumulative stats at that time.</summary>
    internal sealed record Collection(DateTimeOffset At, IReadOnlyDictionary<string, ProxyStats> Proxies);

    /// <summary>The collections kept, oldest first.</summary>
    public IReadOnlyList<Collection> Collections
    {
        get
        {
            lock (_gate)
            {
                return [.. _collections];
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.StatsInterval, time);
        do
        {
            try
            {
                await CollectAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // One bad round costs that round, never the control plane (a background service's exception stops the host).
                ControlPlaneLog.StatsRoundFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>Collects once from every watching proxy that reported where to read it.</summary>
    public async Task CollectAsync(CancellationToken cancellationToken)
    {
        var live = proxies.List(state.Current.Version).Where(p => p.Watching && ProxyReader.Readable(p)).ToList();
        var results = await Task.WhenAll(live.Select(async proxy =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            try
            {
                using var response = await reader.GetAsync(proxy, "stats", HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
                var stats = await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.ProxyStats, timeout.Token).ConfigureAwait(false);
                // What answers at a reported address may be another proxy (one reporting another's address, a name that
                // resolves to several instances): its statistics are not this proxy's.
                if (stats is not null && stats.ProxyId != proxy.Id)
                {
                    ControlPlaneLog.StatsUnavailable(logger, proxy.Id, $"{response.RequestMessage?.RequestUri} answered as proxy {stats.ProxyId}");
                    return null;
                }

                return stats;
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
            {
                ControlPlaneLog.StatsUnavailable(logger, proxy.Id, ex is OperationCanceledException ? $"no answer within {Timeout.TotalSeconds} s" : ex.Message);
                return null;
            }
        })).ConfigureAwait(false);

        var collection = new Collection(time.GetUtcNow(), results.OfType<ProxyStats>().ToDictionary(r => r.ProxyId, r => r, StringComparer.Ordinal));
        lock (_gate)
        {
            _collections.Add(collection);
            if (_collections.Count > Kept)
            {
                _collections.RemoveAt(0);
            }
        }
    }
}
