using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// Lets go of the pages of machine code a process mapped from its executable and shared libraries and no longer runs.
/// Start-up code (configuration, dependency injection, Kestrel's and YARP's setup) is read from the file once and then
/// stays mapped, counted in the process's resident set for as long as it lives. <c>madvise(MADV_DONTNEED)</c> on those
/// mappings removes them from this process's page tables only: the pages stay in the kernel's page cache (shared with
/// every process that maps the same file), and what still runs is mapped back from there on its next use, without
/// reading the disk. Only mappings that hold nothing but the file's own bytes qualify: read-only, private, from a file,
/// and with no page this process changed, in memory or swapped out (<c>Anonymous</c> and <c>Swap</c> 0 in smaps), so
/// nothing can be lost. Only files that stay loaded qualify: the executable, and the shared libraries that were mapped
/// at the first release (start-up), so an address range cannot be unmapped and reused between reading smaps and the
/// madvise calls. Left alone: managed assemblies (<c>.dll</c>), whose pages the runtime relocates while it loads them,
/// and the CoreCLR runtime and JIT (<c>libcoreclr.so</c>, <c>libclrjit.so</c>), since CoreCLR patches its own code in
/// place when write-xor-execute is off. What falls is the process's resident set, not the machine's memory in use: the
/// pages stay cached, shared, and droppable by the kernel without unmapping them from this process first.
/// <para>
/// In a Native AOT process, where the executable is the application's code, the releases of start-up also keep what
/// comes back to what runs (<see cref="DropsUnmappedExecutablePages"/>). When a process faults a page in from a file, the
/// kernel maps up to 16 pages around it too, any of them that are in its page cache ("fault-around", a setting for the
/// whole machine); the methods a request runs lie among many it does not, so 10-11 MB of a 14.5 MB code segment came
/// back that way. The executable's read-only mappings get <c>MADV_RANDOM</c> (a page that has to be read is read alone,
/// with no read-ahead), and <c>POSIX_FADV_DONTNEED</c> on the file drops from the page cache every page of it that no
/// process maps; a fault then maps the page it needs, and around it only pages that some process still maps. A page
/// stays cached while any process maps it, so sidecars of one executable that released at different moments keep each
/// other's neighbours; <see cref="FollowUpPasses"/> more releases, one per interval, converge on the pages in use. The
/// cost is disk reads: a page that no process mapped at a drop is read again when next run, alone. Hence only at
/// start-up: dropping at every release made each sidecar of a pair read 1400-2000 pages back over a bench run, and its
/// p99 after bursts rose; the releases after start-up map back from what start-up left cached, which holds the pages
/// in use and few others. Files on tmpfs cannot be dropped and stay as before.
/// </para>
/// </summary>
internal static partial class MappedCode
{
    private const int MadvRandom = 1;
    private const int MadvDontNeed = 4;
    private const int FadvDontNeed = 4;

    private static readonly Lock Gate = new();
    private static HashSet<string>? _startUpLibraries;

    /// <summary>True where this can work (Linux).</summary>
    public static bool Supported => OperatingSystem.IsLinux();

    /// <summary>
    /// Whether <see cref="Release"/> also drops the executable's unmapped pages from the page cache: in a Native AOT
    /// process, whose executable holds the application's code (a JIT-compiled one's is .NET's small host).
    /// </summary>
    public static bool DropsUnmappedExecutablePages => Supported && !RuntimeFeature.IsDynamicCodeSupported;

    /// <summary>How many more releases, one per interval, follow start-up's first where it drops unmapped pages; 0 elsewhere.</summary>
    public static int FollowUpPasses => DropsUnmappedExecutablePages ? 3 : 0;

    /// <summary>
    /// Releases what qualifies and returns the resident bytes those mappings held before (what the kernel unmapped;
    /// the part that is still in use comes back as it runs). 0 where unsupported or when reading the maps fails. With
    /// <paramref name="dropUnmappedPages"/> (start-up's releases), also drops the executable's pages that no process
    /// maps from the page cache where <see cref="DropsUnmappedExecutablePages"/>.
    /// </summary>
    public static long Release(bool dropUnmappedPages = false)
    {
        if (!Supported)
        {
            return 0;
        }

        lock (Gate)
        {
            List<Mapping> mappings;
            try
            {
                // Read whole before the first madvise: the kernel builds smaps as it is read.
                mappings = [.. Parse(File.ReadLines("/proc/self/smaps"))];
            }
            catch (IOException)
            {
                return 0;
            }
            catch (UnauthorizedAccessException)
            {
                return 0;
            }

            var executable = Environment.ProcessPath ?? "";
            _startUpLibraries ??= [.. mappings.Where(m => IsSharedLibrary(m.Path)).Select(m => m.Path)];
            long released = 0;
            try
            {
                foreach (var mapping in mappings)
                {
                    if (Qualifies(mapping, executable, _startUpLibraries)
                        && Madvise((nint)mapping.Start, (nuint)(mapping.End - mapping.Start), MadvDontNeed) == 0)
                    {
                        released += mapping.ResidentBytes;
                    }
                }
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                // A C library without madvise: nothing to do.
                return released;
            }

            if (dropUnmappedPages && DropsUnmappedExecutablePages && executable.Length > 0)
            {
                DropUnmappedPages(executable, mappings);
            }

            return released;
        }
    }

    /// <summary>
    /// <c>MADV_RANDOM</c> on the executable's read-only mappings, then drops the pages of its file that no process maps
    /// from the page cache (pages being written back, or that another process maps, stay).
    /// </summary>
    private static void DropUnmappedPages(string executable, List<Mapping> mappings)
    {
        foreach (var mapping in mappings)
        {
            if (mapping.Path == executable && mapping.Permissions.Length >= 2 && mapping.Permissions[1] == '-')
            {
                _ = Madvise((nint)mapping.Start, (nuint)(mapping.End - mapping.Start), MadvRandom);
            }
        }

        try
        {
            using var file = File.OpenHandle(executable);
            _ = Fadvise(file, 0, 0, FadvDontNeed);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or EntryPointNotFoundException)
        {
            // The file is gone or unreadable, or the C library has no posix_fadvise: the pages stay cached.
        }
    }

    /// <summary>One mapping of <c>/proc/self/smaps</c>, with what <see cref="Release"/> decides on.</summary>
    public readonly record struct Mapping(ulong Start, ulong End, string Permissions, string Path, long ResidentBytes, long AnonymousBytes, long SwapBytes = 0);

    /// <summary>
    /// Whether a mapping may be released: private and not writable, from the process's executable or a shared library
    /// (one of <paramref name="libraries"/> when given; never CoreCLR's runtime or JIT), resident, and holding no page
    /// the process changed.
    /// </summary>
    public static bool Qualifies(Mapping mapping, string executable, IReadOnlySet<string>? libraries)
    {
        if (mapping.Permissions.Length < 4 || mapping.Permissions[0] != 'r' || mapping.Permissions[1] != '-' || mapping.Permissions[3] != 'p')
        {
            return false;
        }

        if (mapping.ResidentBytes == 0 || mapping.AnonymousBytes != 0 || mapping.SwapBytes != 0 || !mapping.Path.StartsWith('/'))
        {
            return false;
        }

        if (executable.Length > 0 && mapping.Path == executable)
        {
            return true;
        }

        return IsSharedLibrary(mapping.Path) && (libraries is null || libraries.Contains(mapping.Path)) && !IsRuntimeThatPatchesItself(mapping.Path);
    }

    /// <summary>A shared library's file: the name ends in <c>.so</c> or <c>.so.</c> and version numbers (libssl.so.3, libicuuc.so.72.1).</summary>
    public static bool IsSharedLibrary(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!path.StartsWith('/'))
        {
            return false;
        }

        var name = path.AsSpan(path.LastIndexOf('/') + 1);
        var end = name.Length;
        // Strip ".72", ".1", ... from the end; what is left must end in ".so".
        while (true)
        {
            var dot = name[..end].LastIndexOf('.');
            if (dot <= 0)
            {
                return false;
            }

            var part = name[(dot + 1)..end];
            if (part.SequenceEqual("so"))
            {
                return true;
            }

            if (part.IsEmpty || !IsDigits(part))
            {
                return false;
            }

            end = dot;
        }
    }

    private static bool IsDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsRuntimeThatPatchesItself(string path) =>
        path.EndsWith("/libcoreclr.so", StringComparison.Ordinal) || path.EndsWith("/libclrjit.so", StringComparison.Ordinal);

    /// <summary>Reads the mappings of smaps lines (header lines and their <c>Rss</c>, <c>Anonymous</c> and <c>Swap</c> fields).</summary>
    public static IEnumerable<Mapping> Parse(IEnumerable<string> smaps)
    {
        ArgumentNullException.ThrowIfNull(smaps);
        Mapping? current = null;
        foreach (var line in smaps)
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (TryHeader(line, out var header))
            {
                if (current is { } done)
                {
                    yield return done;
                }

                current = header;
            }
            else if (current is { } open)
            {
                if (line.StartsWith("Rss:", StringComparison.Ordinal))
                {
                    current = open with { ResidentBytes = Kilobytes(line) * 1024 };
                }
                else if (line.StartsWith("Anonymous:", StringComparison.Ordinal))
                {
                    current = open with { AnonymousBytes = Kilobytes(line) * 1024 };
                }
                else if (line.StartsWith("Swap:", StringComparison.Ordinal))
                {
                    current = open with { SwapBytes = Kilobytes(line) * 1024 };
                }
            }
        }

        if (current is { } last)
        {
            yield return last;
        }
    }

    // "7f0c1a200000-7f0c1a400000 r-xp 00000000 08:01 1234   /usr/lib/x86_64-linux-gnu/libc.so.6"
    private static bool TryHeader(string line, out Mapping mapping)
    {
        mapping = default;
        var dash = line.IndexOf('-');
        var space = line.IndexOf(' ');
        if (dash <= 0 || space <= dash
            || !ulong.TryParse(line.AsSpan(0, dash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start)
            || !ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end))
        {
            return false;
        }

        var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 5)
        {
            return false;
        }

        mapping = new Mapping(start, end, fields[1], fields.Length == 6 ? fields[5].Trim() : "", 0, 0);
        return true;
    }

    private static long Kilobytes(string line)
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length >= 2 && long.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kb) ? kb : 0;
    }

    // off_t is 64 bits on the 64-bit Linux targets the proxies are built for.
    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(SafeFileHandle file, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
