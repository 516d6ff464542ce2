using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>How much of a file the kernel's page cache holds: <c>mincore</c> over a mapping of it, which reads nothing.</summary>
internal static class PageCache
{
    public static long CachedBytes(string path)
    {
        var length = new FileInfo(path).Length;
        using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        var page = Environment.SystemPageSize;
        var resident = new byte[(length + page - 1) / page];
        var address = view.SafeMemoryMappedViewHandle.DangerousGetHandle() + (nint)view.PointerOffset;
        if (Mincore(address, (nuint)length, resident) != 0)
        {
            throw new IOException($"mincore on {path} failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return resident.Count(flags => (flags & 1) != 0) * (long)page;
    }

    [DllImport("libc", EntryPoint = "mincore", SetLastError = true)]
    private static extern int Mincore(nint address, nuint length, byte[] vector);
}
