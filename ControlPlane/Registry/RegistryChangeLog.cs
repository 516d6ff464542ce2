namespace AspireMesh.ControlPlane.Registry;

/// <summary>
/// The registry's recent changes (instances added, changed in what a client sees, removed), kept for
/// <see cref="Retention"/>: what Eureka's delta fetch answers, as the Netflix server's "recently changed" queue does.
/// Lease renewals are not changes.
/// </summary>
internal sealed class RegistryChangeLog(TimeProvider time)
{
    public const string Added = "ADDED";
    public const string Modified = "MODIFIED";
    public const string Deleted = "DELETED";

    /// <summary>Netflix keeps three minutes: several fetch intervals (30 s) of a client.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromMinutes(3);

    private readonly Lock _gate = new();
    private readonly Queue<RegistryChange> _changes = new();
    private Dictionary<string, RegisteredInstance> _seen = new(StringComparer.Ordinal);
    private long _version;

    /// <summary>Compares the registry with what it held at the last call and records the differences.</summary>
    public void Observe(IReadOnlyDictionary<string, RegisteredInstance> instances)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            foreach (var (id, instance) in instances)
            {
                if (!_seen.TryGetValue(id, out var before))
                {
                    Add(instance, Added, now);
                }
                else if (Differs(before, instance))
                {
                    Add(instance, Modified, now);
                }
            }

            foreach (var (id, before) in _seen)
            {
                if (!instances.ContainsKey(id))
                {
                    Add(before, Deleted, now);
                }
            }

            _seen = new Dictionary<string, RegisteredInstance>(instances, StringComparer.Ordinal);
            Prune(now);
        }
    }

    /// <summary>The changes of the last <see cref="Retention"/>, the latest per instance, and a version that grows with every change.</summary>
    public (long Version, IReadOnlyList<RegistryChange> Changes) Recent()
    {
        lock (_gate)
        {
            Prune(time.GetUtcNow());
            var latest = new Dictionary<string, RegistryChange>(StringComparer.Ordinal);
            foreach (var change in _changes)
            {
                latest[change.Instance.Id] = change;
            }

            return (_version, [.. latest.Values]);
        }
    }

    // What a discovery client sees of an instance; a renewal (a new LastHeartbeat, a Consul pass) is not a change.
    private static bool Differs(RegisteredInstance before, RegisteredInstance after) =>
        before.Service != after.Service || before.Address != after.Address || before.Healthy != after.Healthy || before.Mtls != after.Mtls
        || !ReferenceEquals(before.Eureka, after.Eureka) || before.Consul?.Maintenance != after.Consul?.Maintenance;

    private void Add(RegisteredInstance instance, string action, DateTimeOffset at)
    {
        _changes.Enqueue(new RegistryChange(instance, action, at));
        _version++;
    }

    private void Prune(DateTimeOffset now)
    {
        while (_changes.TryPeek(out var oldest) && now - oldest.At > Retention)
        {
            _changes.Dequeue();
        }
    }
}

/// <summary>One change: the instance as it is after it (before it, when deleted).</summary>
internal sealed record RegistryChange(RegisteredInstance Instance, string Action, DateTimeOffset At);
