using System.Runtime.InteropServices;

namespace AspireMesh.Hosting.Processes;

/// <summary>Sends POSIX signals; .NET can receive them but has no API to send SIGTERM, the graceful stop request.</summary>
public static partial class ProcessSignals
{
    private const int SigInt = 2;
    private const int SigTerm = 15;

    /// <summary>Asks a process to stop (SIGTERM). False where signals do not exist or the process is gone.</summary>
    public static bool TryTerminate(int pid) => TrySend(pid, SigTerm);

    /// <summary>Sends SIGINT, as Ctrl+C in a terminal does.</summary>
    public static bool TryInterrupt(int pid) => TrySend(pid, SigInt);

    private static bool TrySend(int pid, int signal) => !OperatingSystem.IsWindows() && Kill(pid, signal) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
