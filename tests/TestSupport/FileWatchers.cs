namespace AspireMesh.TestSupport;

/// <summary>Counts the file watchers a process holds (Linux: its inotify instances, from /proc).</summary>
public static class FileWatchers
{
    /// <summary>How many inotify instances process <paramref name="pid"/> has open.</summary>
    public static int Count(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Count(fd => LinkTarget(fd) == "anon_inode:inotify");

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            // Closed since the directory was listed.
            return null;
        }
    }
}
