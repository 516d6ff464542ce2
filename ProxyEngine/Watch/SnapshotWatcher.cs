using System.Text.Json;
using System.Text.RegularExpressions;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Watch;

/// <summary>
/// Keeps the proxy's config current: serves the snapshot saved by its last run first (so it works while the control
/// plane is down), then long-polls the control plane, applies each new snapshot, and reports the version it applied or
/// why it refused one. While the control plane is unreachable the last applied snapshot keeps serving and the watch
/// retries with capped backoff.
/// </summary>
internal sealed partial class SnapshotWatcher(ControlPlaneClient client, SnapshotApplier applier, ProxyStatus status, ProxyEngineOptions options,
    TimeProvider time, ILogger<SnapshotWatcher> logger) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await RestoreSavedAsync(stoppingToken).ConfigureAwait(false);
        if (options.Identity is { } identity)
        {
            // The control plane shows each proxy's certificate expiry; a renewal is news.
            identity.Renewed += () => _ = ReportQuietlyAsync(stoppingToken);
        }

        var backoff = TimeSpan.FromMilliseconds(200);
        var failing = false;
        long received = status.AppliedVersion;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var watched = await client.WatchAsync(options.Kind, options.Name, options.ProxyId, received, stoppingToken).ConfigureAwait(false);
                if (failing)
                {
                    failing = false;
                    ProxyEngineLog.WatchResumed(logger, options.ControlPlane.ToString());
                }

                backoff = TimeSpan.FromMilliseconds(200);
                if (watched is { Snapshot: var snapshot })
                {
                    // Watch from the version received, applied or refused, so a refused snapshot is not sent again and again.
                    received = snapshot.Version;
                    var refusal = snapshot.Version == status.AppliedVersion ? [] : await applier.ApplyAsync(snapshot, stoppingToken).ConfigureAwait(false);
                    if (refusal.Count == 0)
                    {
                        NoteIgnoredFields(snapshot.Version, watched.IgnoredFields);
                    }

                    await ReportAsync(refusal.Count == 0 ? null : snapshot.Version, refusal.Count == 0 ? null : string.Join("; ", refusal), stoppingToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested && ex is HttpRequestException or ControlPlaneException or TaskCanceledException or JsonException)
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

    private long? _refusedVersion;
    private string? _refusal;
    private IReadOnlyList<string> _ignoredFields = [];

    // Like Envoy with unknown fields in dynamic config: a snapshot from a newer control plane is applied without the
    // fields this build does not know, and the proxy says which, in its log and to the control plane.
    // Fields are named without their indexes (routes[].mirrorPercent: a field of the contract, whichever route has it),
    // and logged when that set changes, not with every snapshot (each registration in the mesh makes one).
    private void NoteIgnoredFields(long version, IReadOnlyList<string> ignored)
    {
        var before = _ignoredFields;
        var fields = ignored.Select(f => ArrayIndex().Replace(f, "[]")).Distinct(StringComparer.Ordinal).ToList();
        _ignoredFields = [.. fields.Take(ProxyReport.MaxIgnoredFields)];
        if (fields.Count > 0 && !before.SequenceEqual(_ignoredFields, StringComparer.Ordinal))
        {
            ProxyEngineLog.SnapshotFieldsIgnored(logger, version, MeshBuild.Version, fields.Count,
                string.Join(", ", _ignoredFields) + (fields.Count > _ignoredFields.Count ? ", ..." : ""));
        }
    }

    [GeneratedRegex(@"\[\d+\]")]
    private static partial Regex ArrayIndex();

    private Task ReportAsync(long? refusedVersion, string? refusal, CancellationToken cancellationToken)
    {
        _refusedVersion = refusedVersion;
        _refusal = refusal;
        return client.ReportAsync(options.ProxyId, new ProxyReport(options.Kind, options.Name, status.AppliedVersion, refusedVersion, refusal)
        {
            // A proxy with a telemetry listener is read there: its admin listener is on a loopback the control plane may not share.
            AdminAddress = status.TelemetryAddress is null ? status.AdminAddress : null,
            TelemetryAddress = status.TelemetryAddress,
            SpiffeId = options.Identity?.Id.ToString(),
            CertificateNotAfter = options.Identity?.NotAfter,
            ProxyVersion = MeshBuild.Version,
            IgnoredFields = _ignoredFields,
        }, cancellationToken);
    }

    private async Task ReportQuietlyAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ReportAsync(_refusedVersion, _refusal, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or ControlPlaneException or OperationCanceledException)
        {
            // The next snapshot's report carries it.
        }
    }

    private async Task RestoreSavedAsync(CancellationToken cancellationToken)
    {
        if (options.StateFile is not { } path || !File.Exists(path))
        {
            return;
        }

        try
        {
            var saved = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false), MeshJsonContext.Tolerant.ProxySnapshot);
            if (saved is not null && (await applier.ApplyAsync(saved, cancellationToken).ConfigureAwait(false)).Count == 0)
            {
                ProxyEngineLog.SnapshotRestored(logger, saved.Version, path);
            }
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            ProxyEngineLog.SnapshotNotRestored(logger, path, ex.Message);
        }
    }
}
