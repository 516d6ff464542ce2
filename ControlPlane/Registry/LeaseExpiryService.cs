using AspireMesh.ControlPlane.Proxies;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Registry;

/// <summary>
/// Sweeps expired leases a few times per lease duration, so an instance whose heartbeats stop is evicted promptly, and
/// turns critical the Consul checks whose TTL ran out (an instance whose check stays critical long enough goes too); on
/// the same beat, forgets the proxies that have not watched for <see cref="ControlPlaneOptions.ProxyRetention"/>.
/// When a sweep comes late by more than half a lease, the control plane itself did not run (a paused or suspended
/// process or machine, a starved CPU): it could take no heartbeat meanwhile either, so every lease and check deadline is
/// first extended by the time lost, as Eureka's eviction compensates a late run. Otherwise it would evict every instance
/// at once on resuming, and proxies would be told that no service has an endpoint.
/// </summary>
internal sealed class LeaseExpiryService(InstanceRegistry registry, ProxyRegistry proxies, TimeProvider time, IOptions<ControlPlaneOptions> options,
    ILogger<LeaseExpiryService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = options.Value.LeaseDuration / 4;
        if (period < TimeSpan.FromMilliseconds(50))
        {
            period = TimeSpan.FromMilliseconds(50);
        }

        var tolerance = options.Value.LeaseDuration / 2;
        using var timer = new PeriodicTimer(period, time);
        var last = time.GetTimestamp();
        var lastUtc = time.GetUtcNow();
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                // Late by the monotonic clock (a paused process) or by the wall clock the deadlines are kept in (a
                // suspended machine, whose monotonic clock stood still; a backward step reads as not late).
                var now = time.GetTimestamp();
                var nowUtc = time.GetUtcNow();
                var late = TimeSpan.FromTicks(Math.Max(time.GetElapsedTime(last, now).Ticks, (nowUtc - lastUtc).Ticks)) - period;
                (last, lastUtc) = (now, nowUtc);
                if (late > tolerance)
                {
                    registry.ExtendDeadlines(late);
                    ControlPlaneLog.LeasesExtendedAfterPause(logger, late.TotalSeconds);
                }

                registry.ExpireConsulTtls();
                registry.EvictExpired();
                proxies.ForgetSilentSince(time.GetUtcNow() - options.Value.ProxyRetention);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
