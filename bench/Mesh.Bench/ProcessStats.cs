using System.Globalization;

namespace AspireMesh.Mesh.Bench;

/// <summary>CPU time and memory of a process and its descendants (nginx and HAProxy workers), read from /proc.</summary>
internal static class ProcessStats
{
    // USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux architecture .NET runs on.
    private const double ClockTicksPerSecond = 100;

    /// <summary>The process and every descendant alive now.</summary>
    public static IReadOnlyList<int> Tree(int pid)
    {
        var all = new List<int> { pid };
        for (var i = 0; i < all.Count; i++)
        {
            foreach (var task in SafeDirectories($"/proc/{all[i]}/task"))
            {
                var children = SafeRead(Path.Combine(task, "children"));
                all.AddRange(children.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(c => int.Parse(c, CultureInfo.InvariantCulture)));
            }
        }

        return all.Distinct().ToList();
    }

    /// <summary>User plus system CPU seconds used so far by the process tree.</summary>
    public static double CpuSeconds(int pid) => Tree(pid).Sum(p =>
    {
        var stat = SafeRead($"/proc/{p}/stat");
        // The command name (field 2) may hold spaces; fields after its closing parenthesis are space-separated.
        var rest = stat.Length == 0 ? [] : stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return rest.Length > 12 ? (long.Parse(rest[11], CultureInfo.InvariantCulture) + long.Parse(rest[12], CultureInfo.InvariantCulture)) / ClockTicksPerSecond : 0;
    });

    /// <summary>Resident memory of the process tree now (VmRSS), in bytes.</summary>
    public static long RssBytes(int pid) => Tree(pid).Sum(p => StatusKilobytes(p, "VmRSS:") * 1024);

    /// <summary>
    /// Resident memory of the process tree that no other process maps (Private_Clean plus Private_Dirty of
    /// /proc/&lt;pid&gt;/smaps_rollup), in bytes: what one more such process costs a machine that already runs one with the
    /// same executable, whose code pages the two share.
    /// </summary>
    public static long PrivateBytes(int pid) => Tree(pid).Sum(p =>
    {
        var rollup = SafeRead($"/proc/{p}/smaps_rollup");
        return (Kilobytes(rollup, "Private_Clean:") + Kilobytes(rollup, "Private_Dirty:")) * 1024;
    });

    /// <summary>Peak resident memory (VmHWM) of the process tree, summed over its processes, in bytes.</summary>
    public static long PeakRssBytes(int pid) => Tree(pid).Sum(p => StatusKilobytes(p, "VmHWM:") * 1024);

    private static long StatusKilobytes(int pid, string field) => Kilobytes(SafeRead($"/proc/{pid}/status"), field);

    /// <summary>The value of a "Field:   1234 kB" line of a /proc file's text, 0 when it has none.</summary>
    private static long Kilobytes(string text, string field)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    private static string SafeRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return ""; // the process ended meanwhile
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static IEnumerable<string> SafeDirectories(string path)
    {
        try
        {
            return Directory.GetDirectories(path);
        }
        catch (IOException)
        {
            return [];
        }
    }
}
