using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.Registry;

namespace AspireMesh.ControlPlane.State;

/// <summary>
/// Holds the current <see cref="MeshState"/> (one reference, swapped atomically) and wakes watchers when it changes.
/// Changes that come in a burst wake watchers once: the wake-up waits <c>debounce</c> after the first change, so
/// 200 proxies compute one snapshot each for a burst of registrations, not one per registration.
/// </summary>
internal sealed class MeshStateStore
{
    private readonly Lock _gate = new();
    private readonly TimeSpan _debounce;
    private readonly TimeProvider _time;
    private MeshState _current;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ITimer? _pendingWake;

    public MeshStateStore()
        : this(TimeSpan.Zero, TimeProvider.System)
    {
    }

    public MeshStateStore(TimeSpan debounce, TimeProvider time)
    {
        _debounce = debounce;
        _time = time;
        // Versions start from the clock, so a restarted control plane never reissues a version a proxy already holds.
        _current = new MeshState(time.GetUtcNow().ToUnixTimeMilliseconds(), new MeshConfig(), []);
    }

    public MeshState Current => Volatile.Read(ref _current);

    public void SetConfig(MeshConfig config, long configVersion) =>
        Swap(state => new MeshState(state.Version + 1, config, state.Instances, configVersion) { Trust = state.Trust });

    public void PublishInstances(IReadOnlyList<RegisteredInstance> instances) =>
        Swap(state => new MeshState(state.Version + 1, state.Config, instances, state.ConfigVersion) { Trust = state.Trust });

    /// <summary>The trust domain and the roots proxies must trust (a rotation changes them, and every proxy is told).</summary>
    public void SetTrust(string trustDomain, IReadOnlyList<string> bundle) =>
        Swap(state => new MeshState(state.Version + 1, state.Config, state.Instances, state.ConfigVersion) { Trust = new MeshTrust(trustDomain, bundle) });

    /// <summary>
    /// Returns the state once its version differs from <paramref name="knownVersion"/> (at once if it already does);
    /// null when <paramref name="timeout"/> passes first.
    /// </summary>
    public async Task<MeshState?> WaitForChangeAsync(long knownVersion, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_gate)
        {
            if (_current.Version != knownVersion && _pendingWake is null)
            {
                return _current;
            }

            changed = _changed.Task;
        }

        try
        {
            await changed.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }

        return Current;
    }

    private void Swap(Func<MeshState, MeshState> next)
    {
        TaskCompletionSource? wake = null;
        lock (_gate)
        {
            Volatile.Write(ref _current, next(_current));
            if (_debounce <= TimeSpan.Zero)
            {
                wake = TakeWaiters();
            }
            else
            {
                _pendingWake ??= _time.CreateTimer(_ => WakeAfterDebounce(), null, _debounce, Timeout.InfiniteTimeSpan);
            }
        }

        wake?.TrySetResult();
    }

    private void WakeAfterDebounce()
    {
        TaskCompletionSource wake;
        lock (_gate)
        {
            _pendingWake?.Dispose();
            _pendingWake = null;
            wake = TakeWaiters();
        }

        wake.TrySetResult();
    }

    private TaskCompletionSource TakeWaiters()
    {
        var wake = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return wake;
    }
}
