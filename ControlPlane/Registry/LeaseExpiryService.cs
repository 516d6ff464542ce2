using AspireMesh.ControlPlane.Proxies;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Registry;

/// <summary>
/// Sweeps expired leases a few times per lease duration, so an instance whose heartbeats stop is evicted promptly, and
/// turns critical the Consul checks whose TTL ran out (an instance whose check stays critical long enough goes too); on
/// the same beat, forgets the proxies that have not watched for <see cref="ControlPlaneOptions.ProxyRetention"/>.
/// </summary>
internal sealed class LeaseExpiryService(InstanceRegistry registry, ProxyRegistry proxies, TimeProvider time, IOptions<ControlPlaneOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = options.Value.LeaseDuration / 4;
        using var timer = new PeriodicTimer(period < TimeSpan.FromMilliseconds(50) ? TimeSpan.FromMilliseconds(50) : period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
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
