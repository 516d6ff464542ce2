using System.Diagnostics;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Hosting.Orchestration;

/// <summary>
/// Keeps one process resource running: starts it, shows its output, restarts it with exponential backoff (1 s, 2 s,
/// 4 s … 30 s, reset after a minute of good running) when it exits on its own, and stops it gracefully on request.
/// </summary>
internal sealed class ResourceSupervisor(PlannedResource resource, MeshConsole console)
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StableRun = TimeSpan.FromMinutes(1);
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private ManagedProcess? _current;
    private Task _loop = Task.CompletedTask;
    private int _restarts;

    public PlannedResource Resource => resource;

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
            var code = await current.StopAsync(grace).ConfigureAwait(false);
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
            int code;
            try
            {
                var process = await ManagedProcess.StartAsync(resource.Spec, (line, isError) => console.ResourceLine(resource.Name, line, isError)).ConfigureAwait(false);
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
                code = -1;
            }

            if (_stopping.IsCancellationRequested)
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(startedAt) > StableRun)
            {
                backoff = TimeSpan.FromSeconds(1);
            }

            var restarts = Interlocked.Increment(ref _restarts);
            console.Warn($"{resource.Name} exited unexpectedly with code {code}; restarting in {backoff.TotalSeconds:0} s (restart #{restarts})");
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
}
