namespace AspireMesh.ProxyEngine;

/// <summary>
/// What a proxy reports about itself: the snapshot version it serves and the conditions that keep it from being ready.
/// Shared by the proxy's listeners and its admin endpoint.
/// </summary>
public sealed class ProxyStatus
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, string> _blockers = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _firstSnapshot = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _appliedVersion;
    private volatile string? _adminAddress;
    private volatile string? _telemetryAddress;

    /// <summary>Creates a status that is not ready until a first snapshot is applied.</summary>
    public ProxyStatus() => Block(SnapshotCondition, "no snapshot from the control plane applied yet");

    /// <summary>Readiness condition name for the first snapshot.</summary>
    public const string SnapshotCondition = "snapshot";

    /// <summary>Where the proxy's admin listener is (reported to the control plane, which reads <c>/stats</c> and <c>/tap</c> there).</summary>
    public string? AdminAddress
    {
        get => _adminAddress;
        set => _adminAddress = value;
    }

    /// <summary>
    /// Where the proxy's telemetry listener is reached from other machines (<see cref="Admin.TelemetryListener"/>), when it
    /// has one: reported to the control plane instead of <see cref="AdminAddress"/>.
    /// </summary>
    public string? TelemetryAddress
    {
        get => _telemetryAddress;
        set => _telemetryAddress = value;
    }

    /// <summary>Completes once the first snapshot is applied: every part of the proxy has its routes and policies by then.</summary>
    public Task FirstSnapshot => _firstSnapshot.Task;

    /// <summary>The version of the snapshot being served; 0 before the first.</summary>
    public long AppliedVersion => Interlocked.Read(ref _appliedVersion);

    /// <summary>Whether nothing blocks readiness.</summary>
    public bool IsReady
    {
        get
        {
            lock (_gate)
            {
                return _blockers.Count == 0;
            }
        }
    }

    /// <summary>Why the proxy is not ready; empty when it is.</summary>
    public IReadOnlyList<string> Reasons
    {
        get
        {
            lock (_gate)
            {
                return [.. _blockers.Values];
            }
        }
    }

    /// <summary>Records that <paramref name="version"/> is now served.</summary>
    public void SnapshotApplied(long version)
    {
        Interlocked.Exchange(ref _appliedVersion, version);
        Unblock(SnapshotCondition);
        _firstSnapshot.TrySetResult();
    }

    /// <summary>Marks the proxy not ready for <paramref name="reason"/> until <see cref="Unblock"/> is called with the same condition.</summary>
    public void Block(string condition, string reason)
    {
        lock (_gate)
        {
            _blockers[condition] = reason;
        }
    }

    /// <summary>Clears a readiness condition.</summary>
    public void Unblock(string condition)
    {
        lock (_gate)
        {
            _blockers.Remove(condition);
        }
    }
}
