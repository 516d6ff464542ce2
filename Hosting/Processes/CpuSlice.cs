using System.Globalization;
using System.Runtime.InteropServices;

namespace AspireMesh.Hosting.Processes;

/// <summary>
/// Asks Linux's scheduler for a short CPU time slice for every thread of this process (the sidecar's
/// <c>--cpu-slice</c>). A proxy's thread runs for tens of microseconds per request and then sleeps; when it wakes on a
/// busy machine, it waits until the thread holding the core has used up its slice (1.4 ms on two cores by default).
/// Since Linux 6.12 (EEVDF), a normal-priority thread may ask for a shorter slice (<c>sched_setattr</c>'s
/// <c>sched_runtime</c>, 0.1 to 100 ms, no privilege needed), and a thread with a shorter slice may preempt the running
/// one when it wakes. Threads created later inherit the slice from the thread that creates them, and so would a child
/// process: <see cref="ChildProcessLauncher"/> gives its thread the default back first. Older kernels accept the call
/// and keep their default, which <see cref="Apply"/> reads back and reports. Measured in docs/benchmarks.md
/// (sixteenth round): a lower p99 through a sidecar pair at 1000 requests/s.
/// </summary>
public static partial class CpuSlice
{
    /// <summary>The sidecar's default slice, in microseconds.</summary>
    public const int DefaultMicroseconds = 200;

    /// <summary>The shortest and longest slice the kernel takes, in microseconds.</summary>
    public const int MinimumMicroseconds = 100;

    /// <inheritdoc cref="MinimumMicroseconds"/>
    public const int MaximumMicroseconds = 100_000;

    private const int SchedOther = 0;
    private const int SchedBatch = 3;
    private const int NoSuchThread = 3; // ESRCH: the thread exited since the task list was read

    private static int _appliedMicroseconds;

    /// <summary>Whether <see cref="Apply"/> gave this process's threads a slice of their own.</summary>
    public static bool Applied => Volatile.Read(ref _appliedMicroseconds) != 0;

    /// <summary>
    /// Gives every thread of this process a slice of <paramref name="microseconds"/> (threads created later inherit
    /// it). Returns the number of threads set, or null and why not in <paramref name="reason"/> (not Linux, a kernel
    /// without custom slices, the call refused).
    /// </summary>
    public static int? Apply(int microseconds, out string reason)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(microseconds, MinimumMicroseconds);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(microseconds, MaximumMicroseconds);
        if (!OperatingSystem.IsLinux() || SyscallNumbers() is not { } numbers)
        {
            reason = $"custom CPU slices need Linux on x64 or arm64 (this is {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture})";
            return null;
        }

        var nanoseconds = (ulong)microseconds * 1000;
        var seen = new HashSet<int>();
        var set = 0;
        try
        {
            // A thread that an unset thread starts while the list is read inherits the old slice: read it again until a
            // pass finds no thread it has not seen.
            for (var pass = 0; pass < 10; pass++)
            {
                var found = false;
                foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
                {
                    if (!int.TryParse(Path.GetFileName(task), NumberStyles.None, CultureInfo.InvariantCulture, out var tid) || !seen.Add(tid))
                    {
                        continue;
                    }

                    found = true;
                    switch (SetSlice(numbers, tid, nanoseconds, out var error))
                    {
                        case SetResult.Set:
                            set++;
                            break;
                        case SetResult.Failed:
                            reason = $"sched_setattr on thread {tid} failed: {error}";
                            return null;
                        case SetResult.NotSupported:
                            reason = $"this kernel ({Environment.OSVersion.Version}) keeps its own slice (custom CPU slices need Linux 6.12 or later)";
                            return null;
                    }
                }

                if (!found)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException)
        {
            reason = $"could not set the threads' CPU slice: {ex.Message}";
            return null;
        }

        Volatile.Write(ref _appliedMicroseconds, microseconds);
        reason = "";
        return set;
    }

    /// <summary>
    /// After <see cref="ResetCurrentThread"/> and a child's start: gives every thread of this process the slice
    /// <see cref="Apply"/> set again, the calling thread and any the runtime started meanwhile (for a first child, the
    /// thread that waits for children to exit) included.
    /// </summary>
    public static void Reapply()
    {
        if (Volatile.Read(ref _appliedMicroseconds) is var microseconds and not 0)
        {
            Apply(microseconds, out _);
        }
    }

    /// <summary>Gives the calling thread the kernel's default slice back, if <see cref="Apply"/> changed it.</summary>
    public static void ResetCurrentThread()
    {
        if (Applied && SyscallNumbers() is { } numbers)
        {
            // sched_runtime 0 for a normal-priority thread: the kernel's default slice.
            SetSlice(numbers, 0, 0, out _);
        }
    }

    private static SetResult SetSlice((long Set, long Get) numbers, int tid, ulong nanoseconds, out string error)
    {
        error = "";
        var attributes = new SchedAttributes { Size = (uint)Marshal.SizeOf<SchedAttributes>() };
        if (Syscall(numbers.Get, tid, ref attributes, attributes.Size, 0) != 0)
        {
            return Marshal.GetLastPInvokeError() == NoSuchThread ? SetResult.Skipped : Fail(out error);
        }

        // Real-time or idle threads keep their policy and parameters: a slice is the normal scheduler's notion.
        if (attributes.Policy is not (SchedOther or SchedBatch))
        {
            return SetResult.Skipped;
        }

        attributes.Size = (uint)Marshal.SizeOf<SchedAttributes>();
        attributes.Flags = 0;
        attributes.Runtime = nanoseconds;
        if (Syscall(numbers.Set, tid, ref attributes, 0, 0) != 0)
        {
            return Marshal.GetLastPInvokeError() == NoSuchThread ? SetResult.Skipped : Fail(out error);
        }

        if (nanoseconds == 0)
        {
            return SetResult.Set;
        }

        // Kernels before 6.12 accept sched_runtime for a normal thread and ignore it: read it back.
        var check = new SchedAttributes { Size = (uint)Marshal.SizeOf<SchedAttributes>() };
        if (Syscall(numbers.Get, tid, ref check, check.Size, 0) != 0)
        {
            return SetResult.Skipped;
        }

        return check.Runtime == nanoseconds ? SetResult.Set : SetResult.NotSupported;
    }

    private static SetResult Fail(out string error)
    {
        error = Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
        return SetResult.Failed;
    }

    private static (long Set, long Get)? SyscallNumbers() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => (314, 315),
        Architecture.Arm64 => (274, 275),
        _ => null,
    };

    // sched_setattr(tid, attr, flags) and sched_getattr(tid, attr, size, flags) through syscall(2): the C library has
    // no wrapper for them before glibc 2.41. sched_setattr ignores the fourth argument.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, int tid, ref SchedAttributes attributes, uint sizeOrFlags, uint flags);

    private enum SetResult
    {
        Set,
        Skipped,
        Failed,
        NotSupported,
    }

    /// <summary>The kernel's <c>struct sched_attr</c> (56 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SchedAttributes
    {
        public uint Size;
        public uint Policy;
        public ulong Flags;
        public int Nice;
        public uint Priority;
        public ulong Runtime;
        public ulong Deadline;
        public ulong Period;
        public uint UtilMin;
        public uint UtilMax;
    }
}
