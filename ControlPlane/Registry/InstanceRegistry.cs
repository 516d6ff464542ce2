using AspireMesh.Contracts.Registry;
using AspireMesh.ControlPlane.Consul;
using AspireMesh.ControlPlane.Eureka;
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

    /// <summary>Renews a lease; false when the instance is unknown (evicted or never registered), or was registered
    /// by a Eureka or Consul client (whose own heartbeats and checks keep it).</summary>
    public bool Renew(string instanceId, bool healthy, string? reason = null)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (!_instances.TryGetValue(instanceId, out var existing) || existing.Eureka is not null || existing.Consul is not null)
            {
                return false;
            }

            var why = RegisteredInstance.ReasonOf(healthy, reason);
            _instances[instanceId] = existing with { Healthy = healthy, Reason = why, LastHeartbeat = now, ExpiresAt = now + (existing.Lease ?? options.Value.LeaseDuration) };
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

    /// <summary>
    /// Registers (or re-registers) an instance through the Eureka API, keeping an operator's status override across
    /// re-registrations as Eureka does. False when the id belongs to an instance registered another way (a sidecar, a Consul client).
    /// </summary>
    public bool RegisterEureka(EurekaRegistration registration)
    {
        var now = time.GetUtcNow();
        var lease = TimeSpan.FromSeconds(registration.DurationSeconds);
        lock (_gate)
        {
            _instances.TryGetValue(registration.InstanceId, out var existing);
            if (existing is { Eureka: null })
            {
                return false;
            }

            if (existing?.Eureka is { OverriddenStatus: { } overridden } && existing.Eureka.App == registration.App)
            {
                registration = registration with { OverriddenStatus = overridden };
            }

            var healthy = registration.EffectiveStatus == "UP";
            var updated = new RegisteredInstance(registration.InstanceId, registration.Service, registration.Address, healthy,
                existing?.RegisteredAt ?? now, now, now + lease)
            {
                Lease = lease,
                Eureka = registration,
                Reason = healthy ? null : EurekaReason(registration),
            };
            _instances[registration.InstanceId] = updated;
            if (existing is null || existing.Service != updated.Service || existing.Address != updated.Address || existing.Healthy != updated.Healthy)
            {
                PublishLocked();
            }
            else
            {
                Changes.Observe(_instances);
            }
        }

        ControlPlaneLog.InstanceRegistered(logger, registration.InstanceId, registration.Service, registration.Address, registration.EffectiveStatus == "UP");
        return true;
    }

    /// <summary>A Eureka heartbeat: extends the lease. False when the instance is unknown to <paramref name="app"/>, or
    /// the client changed since it registered (<paramref name="lastDirtyTimestamp"/> later than the registration's).</summary>
    public bool RenewEureka(string app, string instanceId, long? lastDirtyTimestamp)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (FindEurekaLocked(app, instanceId) is not { Eureka: { } eureka } existing || lastDirtyTimestamp > eureka.LastDirtyTimestamp)
            {
                return false;
            }

            _instances[instanceId] = existing with { LastHeartbeat = now, ExpiresAt = now + existing.Lease!.Value };
            return true;
        }
    }

    /// <summary>Changes a Eureka instance's registration (a status override, metadata); false when it is unknown to <paramref name="app"/>.</summary>
    public bool UpdateEureka(string app, string instanceId, Func<EurekaRegistration, EurekaRegistration> change)
    {
        bool healthy;
        string? why;
        lock (_gate)
        {
            if (FindEurekaLocked(app, instanceId) is not { Eureka: { } eureka } existing)
            {
                return false;
            }

            var registration = change(eureka);
            healthy = registration.EffectiveStatus == "UP";
            why = healthy ? null : EurekaReason(registration);
            _instances[instanceId] = existing with { Eureka = registration, Healthy = healthy, Reason = why };
            if (existing.Healthy == healthy)
            {
                // Nothing a proxy routes by changed, but Eureka clients see the registration in their next delta.
                Changes.Observe(_instances);
                return true;
            }

            PublishLocked();
        }

        ControlPlaneLog.InstanceHealthChanged(logger, instanceId, healthy, why);
        return true;
    }

    /// <summary>Removes a Eureka instance (the client's cancel); false when it is unknown to <paramref name="app"/>.</summary>
    public bool RemoveEureka(string app, string instanceId)
    {
        lock (_gate)
        {
            if (FindEurekaLocked(app, instanceId) is null)
            {
                return false;
            }
        }

        return Remove(instanceId);
    }

    /// <summary>Registers (or re-registers) a service instance through the Consul agent API; false when the id belongs to
    /// an instance registered another way (a sidecar, a Eureka client). Maintenance mode survives a re-registration.</summary>
    public bool RegisterConsul(ConsulRegistration registration)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            _instances.TryGetValue(registration.Id, out var existing);
            if (existing is not null && existing.Consul is null)
            {
                return false;
            }

            if (existing?.Consul is { Maintenance: { } maintenance })
            {
                registration = registration with { Maintenance = maintenance };
            }

            // An unchanged HTTP or TCP check keeps its state (and the instance its traffic) until its next run.
            if (existing?.Consul is { Probe: { } before } old && registration.Probe is { } after && before.SameAs(after))
            {
                registration = registration with { CheckStatus = old.CheckStatus, CheckOutput = old.CheckOutput, CriticalSince = old.CriticalSince };
            }

            var updated = new RegisteredInstance(registration.Id, registration.Name, registration.Url, registration.Healthy, existing?.RegisteredAt ?? now, now, registration.ExpiresAt)
            {
                Consul = registration,
                Reason = registration.Reason,
            };
            _instances[registration.Id] = updated;
            if (existing is null || existing.Service != updated.Service || existing.Address != updated.Address || existing.Healthy != updated.Healthy)
            {
                PublishLocked();
            }
        }

        ControlPlaneLog.InstanceRegistered(logger, registration.Id, registration.Name, registration.Url, registration.Healthy);
        return true;
    }

    /// <summary>Changes a Consul instance (its check's state, maintenance); false when no Consul instance has that id.</summary>
    public bool UpdateConsul(string serviceId, Func<ConsulRegistration, ConsulRegistration> change)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (!_instances.TryGetValue(serviceId, out var existing) || existing.Consul is not { } consul)
            {
                return false;
            }

            ReplaceConsulLocked(existing, change(consul), now);
            return true;
        }
    }

    /// <summary>Turns critical every Consul check whose TTL ran out without a pass.</summary>
    public void ExpireConsulTtls()
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            foreach (var instance in _instances.Values.ToList())
            {
                if (instance.Consul is { } consul && consul.TtlDeadline <= now && consul.CheckStatus != ConsulRegistration.Critical)
                {
                    ReplaceConsulLocked(instance, consul with
                    {
                        CheckStatus = ConsulRegistration.Critical,
                        CheckOutput = $"TTL expired: no pass within {consul.Ttl!.Value.TotalSeconds:0.###} s",
                        CriticalSince = now,
                        TtlDeadline = DateTimeOffset.MaxValue,
                    }, instance.LastHeartbeat);
                }
            }
        }
    }

    /// <summary>
    /// The HTTP and TCP checks due now, each with its instance's id; none is due again before its result is in
    /// (<see cref="ProbeResult"/>), so that no two runs of one check overlap, as in Consul.
    /// </summary>
    public IReadOnlyList<(string Id, ConsulProbe Probe, DateTimeOffset Started)> TakeDueProbes()
    {
        var now = time.GetUtcNow();
        var due = new List<(string, ConsulProbe, DateTimeOffset)>();
        lock (_gate)
        {
            foreach (var instance in _instances.Values.ToList())
            {
                if (instance.Consul is { Probe: { } probe } consul && consul.NextProbeAt <= now)
                {
                    _instances[instance.Id] = instance with { Consul = consul with { NextProbeAt = DateTimeOffset.MaxValue } };
                    due.Add((instance.Id, probe, now));
                }
            }
        }

        return due;
    }

    /// <summary>
    /// What a check of <see cref="TakeDueProbes"/> found; it is due again an interval after it started. Ignored when the
    /// instance has since gone or registered another check.
    /// </summary>
    public void ProbeResult(string id, ConsulProbe probe, DateTimeOffset started, string status, string output)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (_instances.TryGetValue(id, out var instance) && instance.Consul is { } consul && ReferenceEquals(consul.Probe, probe))
            {
                var checkedNow = consul.CheckStatus == status && consul.CheckOutput == output ? consul : consul.WithCheck(status, output, now);
                ReplaceConsulLocked(instance, checkedNow with { NextProbeAt = started + probe.Interval }, instance.LastHeartbeat);
            }
        }
    }

    /// <summary>Removes a Consul instance (<c>PUT /v1/agent/service/deregister/{id}</c>); false when no Consul instance has that id.</summary>
    public bool RemoveConsul(string serviceId)
    {
        lock (_gate)
        {
            if (!_instances.TryGetValue(serviceId, out var existing) || existing.Consul is null)
            {
                return false;
            }
        }

        return Remove(serviceId);
    }

    // lastHeartbeat: when the client last spoke (a pass, warn, fail or update; not a TTL running out).
    private void ReplaceConsulLocked(RegisteredInstance existing, ConsulRegistration consul, DateTimeOffset lastHeartbeat)
    {
        _instances[existing.Id] = existing with { Consul = consul, Healthy = consul.Healthy, Reason = consul.Reason, LastHeartbeat = lastHeartbeat, ExpiresAt = consul.ExpiresAt };
        if (existing.Healthy != consul.Healthy)
        {
            ControlPlaneLog.InstanceHealthChanged(logger, existing.Id, consul.Healthy, consul.Reason);
            PublishLocked();
        }
    }

    private RegisteredInstance? FindEurekaLocked(string app, string instanceId) =>
        _instances.TryGetValue(instanceId, out var instance) && string.Equals(instance.Eureka?.App, app, StringComparison.OrdinalIgnoreCase) ? instance : null;

    private static string EurekaReason(EurekaRegistration registration) =>
        registration.OverriddenStatus is { } overridden
            ? $"its Eureka status is overridden to {overridden}"
            : $"its Eureka client reports {registration.Status}";

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

    /// <summary>
    /// Moves every lease's expiry, Consul TTL deadline and critical-since time <paramref name="by"/> later: the time the
    /// control plane lost (see <see cref="LeaseExpiryService"/>) counts against no instance. Never beyond what a renewal
    /// now would give: one that already came in after the pause is not extended by the pause again.
    /// </summary>
    public void ExtendDeadlines(TimeSpan by)
    {
        var now = time.GetUtcNow();
        static DateTimeOffset Later(DateTimeOffset at, TimeSpan by, DateTimeOffset cap) =>
            at >= cap ? at : at >= DateTimeOffset.MaxValue - by ? cap : at + by < cap ? at + by : cap;
        lock (_gate)
        {
            foreach (var instance in _instances.Values.ToList())
            {
                _instances[instance.Id] = instance with
                {
                    ExpiresAt = Later(instance.ExpiresAt, by, now + (instance.Lease ?? options.Value.LeaseDuration)),
                    Consul = instance.Consul is { } consul
                        ? consul with
                        {
                            TtlDeadline = consul.Ttl is { } ttl ? Later(consul.TtlDeadline, by, now + ttl) : consul.TtlDeadline,
                            CriticalSince = consul.CriticalSince is { } since ? (since + by < now ? since + by : now) : null,
                        }
                        : null,
                };
            }
        }
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

    /// <summary>The instance with id <paramref name="instanceId"/>, or null.</summary>
    public RegisteredInstance? Find(string instanceId)
    {
        lock (_gate)
        {
            return _instances.GetValueOrDefault(instanceId);
        }
    }

    public IReadOnlyList<RegisteredInstance> List()
    {
        lock (_gate)
        {
            return [.. _instances.Values];
        }
    }

    /// <summary>The recent changes, for Eureka's delta fetch.</summary>
    public RegistryChangeLog Changes { get; } = new(time);

    private void PublishLocked()
    {
        store.PublishInstances([.. _instances.Values]);
        Changes.Observe(_instances);
    }
}
