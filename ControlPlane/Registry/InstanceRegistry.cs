using AspireMesh.Contracts.Registry;
using AspireMesh.ControlPlane.State;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Registry;

/// <summary>
/// Instances and their leases. Every change a proxy could see (an instance added, removed, its address or health
/// changed) is published to the <see cref="MeshStateStore"/>; a plain renewal is not, so heartbeats cost no push.
/// </summary>
internal sealed class InstanceRegistry(MeshStateStore store, TimeProvider time, IOptions<ControlPlaneOptions> options, ILogger<InstanceRegistry> logger)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, RegisteredInstance> _instances = new(StringComparer.Ordinal);

    public LeaseGrant Register(string instanceId, InstanceRegistration registration)
    {
        var now = time.GetUtcNow();
        var lease = options.Value.LeaseDuration;
        lock (_gate)
        {
            var registeredAt = _instances.TryGetValue(instanceId, out var existing) ? existing.RegisteredAt : now;
            var updated = new RegisteredInstance(instanceId, registration.Service, registration.Address, registration.Healthy, registeredAt, now, now + lease)
            {
                Http2Address = registration.Http2Address,
                Mtls = registration.Mtls,
                Reason = RegisteredInstance.ReasonOf(registration.Healthy, registration.Reason),
            };
            var visible = existing is null || existing.Service != updated.Service || existing.Address != updated.Address
                || existing.Http2Address != updated.Http2Address || existing.Mtls != updated.Mtls || existing.Healthy != updated.Healthy;
            _instances[instanceId] = updated;
            if (visible)
            {
                PublishLocked();
            }
        }

        ControlPlaneLog.InstanceRegistered(logger, instanceId, registration.Service, registration.Address, registration.Healthy);
        if (RegisteredInstance.ReasonOf(registration.Healthy, registration.Reason) is { } why)
        {
            ControlPlaneLog.InstanceUnhealthyBecause(logger, instanceId, why);
        }
        return new LeaseGrant(instanceId, options.Value.HeartbeatInterval.TotalSeconds, lease.TotalSeconds);
    }

    /// <summary>Renews a lease; false when the instance is unknown (evicted or never registered).</summary>
    public bool Renew(string instanceId, bool healthy, string? reason = null)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (!_instances.TryGetValue(instanceId, out var existing))
            {
                return false;
            }

            var why = RegisteredInstance.ReasonOf(healthy, reason);
            _instances[instanceId] = existing with { Healthy = healthy, Reason = why, LastHeartbeat = now, ExpiresAt = now + options.Value.LeaseDuration };
            if (existing.Healthy != healthy)
            {
                ControlPlaneLog.InstanceHealthChanged(logger, instanceId, healthy, why);
                PublishLocked();
            }
            else if (!healthy && why is not null && why != existing.Reason)
            {
                // Still unhealthy, for another reason: nothing a proxy sees changes, but an operator reading the log should.
                ControlPlaneLog.InstanceUnhealthyBecause(logger, instanceId, why);
            }
        }

        return true;
    }

    public bool Remove(string instanceId)
    {
        lock (_gate)
        {
            if (!_instances.Remove(instanceId))
            {
                return false;
            }

            PublishLocked();
        }

        ControlPlaneLog.InstanceDeregistered(logger, instanceId);
        return true;
    }

    /// <summary>Evicts every instance whose lease ran out; returns their ids.</summary>
    public IReadOnlyList<string> EvictExpired()
    {
        var now = time.GetUtcNow();
        List<string>? evicted = null;
        lock (_gate)
        {
            foreach (var instance in _instances.Values)
            {
                if (instance.ExpiresAt <= now)
                {
                    (evicted ??= []).Add(instance.Id);
                }
            }

            if (evicted is null)
            {
                return [];
            }

            foreach (var id in evicted)
            {
                _instances.Remove(id);
            }

            PublishLocked();
        }

        foreach (var id in evicted)
        {
            ControlPlaneLog.InstanceEvicted(logger, id);
        }

        return evicted;
    }

    public IReadOnlyList<RegisteredInstance> List()
    {
        lock (_gate)
        {
            return [.. _instances.Values];
        }
    }

    private void PublishLocked() => store.PublishInstances([.. _instances.Values]);
}
