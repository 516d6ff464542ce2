using AspireMesh.Contracts.Client;
using AspireMesh.ProxyEngine.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Watch;

/// <summary>
/// Keeps the proxy's config current: long-polls the control plane and applies each newer snapshot. While the control
/// plane is unreachable the last applied snapshot keeps serving and the watch retries with capped backoff.
/// </summary>
internal sealed class SnapshotWatcher(ControlPlaneClient client, SnapshotApplier applier, ProxyStatus status, ProxyEngineOptions options,
    TimeProvider time, ILogger<SnapshotWatcher> logger) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var snapshot = await client.WatchAsync(options.Kind, options.Name, options.ProxyId, status.AppliedVersion, stoppingToken).ConfigureAwait(false);
                if (failing)
                {
                    failing = false;
                    ProxyEngineLog.WatchResumed(logger, options.ControlPlane.ToString());
                }

                backoff = TimeSpan.FromMilliseconds(200);
                if (snapshot is not null && snapshot.Version != status.AppliedVersion)
                {
                    await applier.ApplyAsync(snapshot, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested && ex is HttpRequestException or ControlPlaneException or TaskCanceledException or System.Text.Json.JsonException)
            {
                if (!failing)
                {
                    failing = true;
                    ProxyEngineLog.WatchFailed(logger, options.ControlPlane.ToString(), ex.Message, status.AppliedVersion);
                }

                try
                {
                    await Task.Delay(backoff, time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }
}
