using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.Registry;

namespace AspireMesh.ControlPlane.State;

/// <summary>
/// Holds the current <see cref="MeshState"/> (one reference, swapped atomically) and wakes watchers when it changes.
/// </summary>
internal sealed class MeshStateStore
{
    private readonly Lock _gate = new();
    private MeshState _current = new(1, new MeshConfig(), []);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public MeshState Current => Volatile.Read(ref _current);

    public void SetConfig(MeshConfig config) => Swap(state => new MeshState(state.Version + 1, config, state.Instances));

    public void PublishInstances(IReadOnlyList<RegisteredInstance> instances) => Swap(state => new MeshState(state.Version + 1, state.Config, instances));

    /// <summary>Waits until the state is newer than <paramref name="knownVersion"/>; null when <paramref name="timeout"/> passes first.</summary>
    public async Task<MeshState?> WaitForNewerAsync(long knownVersion, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_gate)
        {
            if (_current.Version > knownVersion)
            {
                return _current;
            }

            changed = _changed.Task;
        }

        try
        {
            await changed.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }

        return Current;
    }

    private void Swap(Func<MeshState, MeshState> next)
    {
        TaskCompletionSource wake;
        lock (_gate)
        {
            Volatile.Write(ref _current, next(_current));
            wake = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        wake.TrySetResult();
    }
}
