using AspireMesh.Contracts.Registry;
using AspireMesh.ControlPlane;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.State;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Tests.Registry;

public sealed class InstanceRegistryTests
{
    private readonly ManualTimeProvider _time = new();
    private readonly MeshStateStore _store = new();
    private readonly InstanceRegistry _registry;

    public InstanceRegistryTests() =>
        _registry = new InstanceRegistry(_store, _time, Options.Create(new ControlPlaneOptions { LeaseDuration = TimeSpan.FromSeconds(4), HeartbeatInterval = TimeSpan.FromSeconds(1) }),
            NullLogger<InstanceRegistry>.Instance);

    [Fact]
    public void Register_NewInstance_PublishesItAndGrantsLease()
    {
        var before = _store.Current.Version;

        var lease = _registry.Register("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true));

        Assert.Equal(1, lease.HeartbeatIntervalSeconds);
        Assert.Equal(4, lease.LeaseDurationSeconds);
        Assert.True(_store.Current.Version > before);
        var instance = Assert.Single(_store.Current.InstancesOf("catalog"));
        Assert.Equal(("catalog-1", "http://127.0.0.1:5001", true), (instance.Id, instance.Address, instance.Healthy));
    }

    [Fact]
    public void ExtendDeadlines_AfterAPause_ByTheTimeLost_ButNeverPastWhatARenewalNowGives()
    {
        _registry.Register("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true));
        _registry.Register("catalog-2", new InstanceRegistration("catalog", "http://127.0.0.1:5002", true));
        var registered = _time.GetUtcNow();

        // Ten seconds the control plane did not run; catalog-2's heartbeat, queued meanwhile, is taken first.
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(_registry.Renew("catalog-2", healthy: true));
        _registry.ExtendDeadlines(TimeSpan.FromSeconds(10));

        var now = _time.GetUtcNow();
        Assert.Equal(now + TimeSpan.FromSeconds(4), _registry.Find("catalog-2")!.ExpiresAt);
        // catalog-1 keeps the rest of its lease, from now: expired before the extension, alive after it.
        Assert.True(registered + TimeSpan.FromSeconds(4) <= now);
        Assert.Equal(registered + TimeSpan.FromSeconds(14), _registry.Find("catalog-1")!.ExpiresAt);
        Assert.Empty(_registry.EvictExpired());
    }

    [Fact]
    public void Renew_SameHealth_DoesNotChangeMeshState()
    {
        _registry.Register("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true));
        var version = _store.Current.Version;

        Assert.True(_registry.Renew("catalog-1", healthy: true));

        Assert.Equal(version, _store.Current.Version);
    }

    [Fact]
    public void Renew_HealthChanged_PublishesNewState()
    {
        _registry.Register("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true));
        var version = _store.Current.Version;

        Assert.True(_registry.Renew("catalog-1", healthy: false));

        Assert.True(_store.Current.Version > version);
        Assert.False(Assert.Single(_store.Current.InstancesOf("catalog")).Healthy);
    }

    [Fact]
    public void Renew_UnknownInstance_ReturnsFalse()
    {
        Assert.False(_registry.Renew("nobody-1", healthy: true));
    }

    [Fact]
    public void EvictExpired_LeaseRunsOutWithoutHeartbeat_RemovesOnlyThatInstance()
    {
        _registry.Register("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true));
        _registry.Register("catalog-2", new InstanceRegistration("catalog", "http://127.0.0.1:5002", true));
        _time.Advance(TimeSpan.FromSeconds(3));
        _registry.Renew("catalog-2", healthy: true);
        _time.Advance(TimeSpan.FromSeconds(1.5));

        var evicted = _registry.EvictExpired();

        Assert.Equal(["catalog-1"], evicted);
        Assert.Equal("catalog-2", Assert.Single(_store.Current.InstancesOf("catalog")).Id);
    }

    [Fact]
    public void EvictExpired_LeasesCurrent_EvictsNothingAndKeepsVersion()
    {
        _registry.Register("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true));
        var version = _store.Current.Version;
        _time.Advance(TimeSpan.FromSeconds(3.9));

        Assert.Empty(_registry.EvictExpired());
        Assert.Equal(version, _store.Current.Version);
    }

    [Fact]
    public void Remove_RegisteredInstance_DisappearsFromState()
    {
        _registry.Register("catalog-1", new InstanceRegistration("catalog", "http://127.0.0.1:5001", true));

        Assert.True(_registry.Remove("catalog-1"));
        Assert.False(_registry.Remove("catalog-1"));
        Assert.Empty(_store.Current.InstancesOf("catalog"));
    }
}
