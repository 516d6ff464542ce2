using System.Collections.Concurrent;
using System.Diagnostics;

namespace AspireMesh.Hosting.Processes;

/// <summary>
/// Starts child processes so that none outlives its parent, even when the parent is killed outright: on Linux each
/// child is started through <c>setpriv --pdeathsig KILL</c>. The kernel delivers that signal when the thread that
/// forked the child exits, so every child is forked from one dedicated thread that lives as long as the process.
/// </summary>
public sealed class ChildProcessLauncher
{
    private static readonly string? SetPriv = FindSetPriv();
    private readonly BlockingCollection<(ProcessStartInfo Info, TaskCompletionSource<Process> Started)> _queue = [];

    private ChildProcessLauncher()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "AspireMesh child launcher" };
        thread.Start();
    }

    /// <summary>The launcher of this process.</summary>
    public static ChildProcessLauncher Shared { get; } = new();

    /// <summary>Whether children are tied to this process's lifetime by the kernel (Linux with setpriv).</summary>
    public static bool TiesChildrenToParent => SetPriv is not null;

    /// <summary>Starts <paramref name="spec"/> with redirected output and no standard input.</summary>
    public Task<Process> StartAsync(ProcessSpec spec, bool redirectOutput = true)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var info = new ProcessStartInfo
        {
            FileName = SetPriv ?? spec.Command,
            RedirectStandardOutput = redirectOutput,
            RedirectStandardError = redirectOutput,
            RedirectStandardInput = redirectOutput,
            UseShellExecute = false,
            WorkingDirectory = spec.WorkingDirectory ?? Environment.CurrentDirectory,
        };
        if (SetPriv is not null)
        {
            foreach (var arg in (string[])["--pdeathsig", "KILL", "--", spec.Command])
            {
                info.ArgumentList.Add(arg);
            }
        }

        foreach (var arg in spec.Arguments)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var key in spec.Withheld ?? [])
        {
            info.Environment.Remove(key);
        }

        foreach (var (key, value) in spec.Environment)
        {
            info.Environment[key] = value;
        }

        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Add((info, started));
        return started.Task;
    }

    private void Run()
    {
        foreach (var (info, started) in _queue.GetConsumingEnumerable())
        {
            try
            {
                // A child inherits the forking thread's scheduling: it gets the kernel's default slice, not the proxy's.
                CpuSlice.ResetCurrentThread();
                Process process;
                try
                {
                    process = Process.Start(info) ?? throw new InvalidOperationException($"'{info.FileName}' did not start.");
                }
                finally
                {
                    CpuSlice.Reapply();
                }

                if (info.RedirectStandardInput)
                {
                    process.StandardInput.Close();
                }

                started.SetResult(process);
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            {
                started.SetException(ex);
            }
        }
    }

    private static string? FindSetPriv()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        return new[] { "/usr/bin/setpriv", "/bin/setpriv" }.FirstOrDefault(File.Exists);
    }
}
