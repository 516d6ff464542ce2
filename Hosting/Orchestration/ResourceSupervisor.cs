using System.Diagnostics;
using AspireMesh.Contracts.Admin;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Hosting.Orchestration;

/// <summary>
/// Keeps one process resource running: starts it, shows its output, restarts it with exponential backoff (1 s, 2 s,
/// 4 s … 30 s, reset after a minute of good running) when it exits on its own, and stops it gracefully on request.
/// Its state and output also go to <paramref name="publisher"/>, when there is one (the dashboard's view of it).
/// </summary>
internal sealed class ResourceSupervisor(PlannedResource resource, MeshConsole console, ResourcePublisher? publisher = null)
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StableRun = TimeSpan.FromMinutes(1);
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private ManagedProcess? _current;
    private Task _loop = Task.CompletedTask;
    private int _restarts;
    private ResourceStatus _status = new(resource.Name, KindOf(resource.Kind), ResourceStates.Starting, 0, null, [.. resource.Urls.Select(u => u.ToString())], null, null);

    public PlannedResource Resource => resource;

    /// <summary>What the resource is doing now.</summary>
    public ResourceStatus Status
    {
        get
        {
            lock (_gate)
            {
                return _status;
            }
        }
    }

    /// <summary>The kind as the control plane's resource API names it.</summary>
    public static string KindOf(ResourceKind kind) => kind switch
    {
        ResourceKind.App => ResourceKinds.Project,
        ResourceKind.Sidecar => ResourceKinds.Sidecar,
        ResourceKind.ControlPlane => ResourceKinds.ControlPlane,
        ResourceKind.Gateway => ResourceKinds.Gateway,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown resource kind"),
    };

    public int Restarts => Volatile.Read(ref _restarts);

    public void Start() => _loop = Task.Run(LoopAsync);

    /// <summary>
    /// Marks the resource as stopping, so an exit from now on is expected and never restarted. Called the moment a
    /// stop is requested: Ctrl+C signals the whole process group, so children may exit before <see cref="StopAsync"/>.
    /// </summary>
    public void BeginStop()
    {
        lock (_gate)
        {
            _stopping.Cancel();
        }
    }

    public async Task StopAsync(TimeSpan grace)
    {
        ManagedProcess? current;
        lock (_gate)
        {
            _stopping.Cancel();
            current = _current;
        }

        if (current is not null)
        {
            Publish(s => s with { State = ResourceStates.Stopping });
            var code = await current.StopAsync(grace).ConfigureAwait(false);
            Publish(s => s with { State = ResourceStates.Exited, Pid = null, ExitCode = code });
            console.Info($"{resource.Name} stopped (exit code {code})");
        }

        await _loop.ConfigureAwait(false);
    }

    private async Task LoopAsync()
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!_stopping.IsCancellationRequested)
        {
            var startedAt = Stopwatch.GetTimestamp();
            Publish(s => s with { State = ResourceStates.Starting, Pid = null, StartedAt = DateTimeOffset.UtcNow });
            int code;
            try
            {
                var process = await ManagedProcess.StartAsync(resource.Spec, (line, isError) =>
                {
                    console.ResourceLine(resource.Name, line, isError);
                    publisher?.Line(resource.Name, line, isError);
                }).ConfigureAwait(false);
                Publish(s => s with { State = ResourceStates.Running, Pid = process.Id });
                lock (_gate)
                {
                    _current = process;
                    if (_stopping.IsCancellationRequested)
                    {
                        // StopAsync ran while this start was under way: it could not see the process, so stop it here.
                        _ = process.StopAsync(TimeSpan.FromSeconds(5));
                    }
                }

                code = await process.Exited.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            {
                console.Error($"{resource.Name} could not start ({resource.Spec}): {ex.Message}");
                publisher?.Line(resource.Name, $"could not start: {ex.Message}", isError: true);
                Publish(s => s with { State = ResourceStates.FailedToStart, Pid = null });
                code = -1;
            }

            if (_stopping.IsCancellationRequested)
            {
                Publish(s => s with { State = ResourceStates.Exited, Pid = null, ExitCode = code });
                return;
            }

            if (Stopwatch.GetElapsedTime(startedAt) > StableRun)
            {
                backoff = TimeSpan.FromSeconds(1);
            }

            var restarts = Interlocked.Increment(ref _restarts);
            var message = $"{resource.Name} exited unexpectedly with code {code}; restarting in {backoff.TotalSeconds:0} s (restart #{restarts})";
            console.Warn(message);
            publisher?.Line(resource.Name, message, isError: true);
            Publish(s => s.State == ResourceStates.FailedToStart
                ? s with { Restarts = restarts }
                : s with { State = ResourceStates.Restarting, Pid = null, ExitCode = code, Restarts = restarts });
            try
            {
                await Task.Delay(backoff, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
        }
    }

    private void Publish(Func<ResourceStatus, ResourceStatus> change)
    {
        lock (_gate)
        {
            // Under the lock, so the publisher sees the changes in the order they happened.
            _status = change(_status);
            publisher?.Update(_status);
        }
    }
}
