using System.Globalization;
using System.Runtime.InteropServices;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// Lets go of the pages of machine code a process mapped from its executable and shared libraries and no longer runs.
/// Start-up code (configuration, dependency injection, Kestrel's and YARP's setup) is read from the file once and then
/// stays mapped, counted in the process's resident set for as long as it lives. <c>madvise(MADV_DONTNEED)</c> on those
/// mappings removes them from this process's page tables only: the pages stay in the kernel's page cache (shared with
/// every process that maps the same file), and what still runs is mapped back from there on its next use, without
/// reading the disk. Only mappings that hold nothing but the file's own bytes qualify: read-only, private, from a file,
/// and with no page this process changed (<c>Anonymous: 0 kB</c> in smaps), so nothing can be lost; the executable and
/// shared libraries stay loaded, so their address ranges are not reused between reading smaps and the madvise calls.
/// Managed assemblies (<c>.dll</c>) are left alone: the runtime applies relocations to their pages while it loads them.
/// What falls is the process's resident set, not the machine's memory in use: the pages stay cached, shared, and
/// droppable by the kernel without unmapping them from this process first.
/// </summary>
public static partial class MappedCode
{
    private const int MadvDontNeed = 4;

    /// <summary>True where this can work (Linux).</summary>
    public static bool Supported => OperatingSystem.IsLinux();

    /// <summary>
    /// Releases what qualifies and returns the resident bytes those mappings held before (what the kernel unmapped;
    /// the part that is still in use comes back as it runs). 0 where unsupported or when reading the maps fails.
    /// </summary>
    public static long Release()
    {
        if (!Supported)
        {
            return 0;
        }

        List<Mapping> mappings;
        var executable = Environment.ProcessPath ?? "";
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

        long released = 0;
        try
        {
            foreach (var mapping in mappings)
            {
                if (Qualifies(mapping, executable) && Madvise((nint)mapping.Start, (nuint)(mapping.End - mapping.Start), MadvDontNeed) == 0)
                {
                    released += mapping.ResidentBytes;
                }
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // A C library without madvise: nothing to do.
        }

        return released;
    }

    /// <summary>The resident bytes of the mappings <see cref="Release"/> would let go of now; 0 where unsupported.</summary>
    public static long ResidentBytes()
    {
        if (!Supported)
        {
            return 0;
        }

        var executable = Environment.ProcessPath ?? "";
        long resident = 0;
        foreach (var mapping in Parse(File.ReadLines("/proc/self/smaps")))
        {
            if (Qualifies(mapping, executable))
            {
                resident += mapping.ResidentBytes;
            }
        }

        return resident;
    }

    /// <summary>One mapping of <c>/proc/self/smaps</c>, with what <see cref="Release"/> decides on.</summary>
    public readonly record struct Mapping(ulong Start, ulong End, string Permissions, string Path, long ResidentBytes, long AnonymousBytes);

    /// <summary>
    /// Whether a mapping may be released: private and not writable, from the process's executable or a shared library
    /// (<c>.so</c>), resident, and holding no page the process changed.
    /// </summary>
    public static bool Qualifies(Mapping mapping, string executable)
    {
        if (mapping.Permissions.Length < 4 || mapping.Permissions[0] != 'r' || mapping.Permissions[1] != '-' || mapping.Permissions[3] != 'p')
        {
            return false;
        }

        if (mapping.ResidentBytes == 0 || mapping.AnonymousBytes != 0 || !mapping.Path.StartsWith('/'))
        {
            return false;
        }

        return (executable.Length > 0 && mapping.Path == executable) || IsSharedLibrary(mapping.Path);
    }

    private static bool IsSharedLibrary(string path)
    {
        var name = path.AsSpan(path.LastIndexOf('/') + 1);
        var so = name.IndexOf(".so", StringComparison.Ordinal);
        // libssl.so.3, libc.so.6, libcoreclr.so; not "(deleted)" files.
        return so > 0 && (so + 3 == name.Length || name[so + 3] == '.') && !path.EndsWith(" (deleted)", StringComparison.Ordinal);
    }

    /// <summary>Reads the mappings of smaps lines (header lines and their <c>Rss</c> and <c>Anonymous</c> fields).</summary>
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

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);
}
