using System.Diagnostics;

namespace AspireMesh.Hosting.Processes;

/// <summary>A started child: its output as lines, its exit, and a graceful stop (SIGTERM, then kill after a grace period).</summary>
public sealed class ManagedProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ManagedProcess(Process process, Action<string, bool>? onLine)
    {
        _process = process;
        if (onLine is not null)
        {
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { onLine(e.Data, false); } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { onLine(e.Data, true); } };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        Exited = WaitForExitAsync();
    }

    /// <summary>Process id.</summary>
    public int Id => _process.Id;

    /// <summary>Completes with the exit code once the process has exited and its output is drained.</summary>
    public Task<int> Exited { get; }

    /// <summary>Starts <paramref name="spec"/>; each output line goes to <paramref name="onLine"/> (text, isError).</summary>
    public static async Task<ManagedProcess> StartAsync(ProcessSpec spec, Action<string, bool>? onLine)
    {
        var process = await ChildProcessLauncher.Shared.StartAsync(spec, redirectOutput: onLine is not null).ConfigureAwait(false);
        return new ManagedProcess(process, onLine);
    }

    /// <summary>Asks the process to stop and waits up to <paramref name="grace"/>; then kills it. Returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan grace)
    {
        if (!Exited.IsCompleted && !ProcessSignals.TryTerminate(_process.Id))
        {
            Kill();
        }

        try
        {
            return await Exited.WaitAsync(grace).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Kill();
            return await Exited.ConfigureAwait(false);
        }
    }

    /// <summary>Kills the process (and anything it started) at once.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!Exited.IsCompleted)
        {
            await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }

        _process.Dispose();
    }

    private async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        return _process.ExitCode;
    }
}
