using System.Runtime.InteropServices;

namespace AspireMesh.ProxyEngine.Hosting.Epoll;

/// <summary>The Linux system calls an <see cref="EpollLoop"/> makes: epoll itself and an eventfd to wake it.</summary>
internal static unsafe partial class EpollNative
{
    public const uint In = 0x001;
    public const uint Out = 0x004;
    public const uint Error = 0x008;
    public const uint HangUp = 0x010;
    public const uint ReadHangUp = 0x2000;
    public const uint EdgeTriggered = 1u << 31;

    /// <summary>The events after which a socket may take more data (or will fail at once, which a send must learn).</summary>
    public const uint WritableEvents = Out | Error | HangUp;

    /// <summary>The events that say the peer's end (or a failure) is there to be read, perhaps after data.</summary>
    public const uint EndEvents = ReadHangUp | Error | HangUp;

    /// <summary>The events after which a read finds something: data, the peer's end or a failure.</summary>
    public const uint ReadableEvents = In | EndEvents;

    public const int ControlAdd = 1;
    public const int CloseOnExec = 0x80000;
    public const int NonBlocking = 0x800;
    public const int Interrupted = 4;

    /// <summary>
    /// The size of <c>struct epoll_event</c>: a 32-bit mask and a 64-bit datum, packed on x86-64 (12 bytes) and aligned
    /// elsewhere (16); the datum sits right after the mask or at offset 8.
    /// </summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static readonly int DataOffset = EventSize - 8;

    /// <summary>Whether this process can run an epoll loop: Linux on x86-64 or Arm64.</summary>
    public static bool Supported => OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    public static uint EventsAt(byte* events, int index) => *(uint*)(events + (index * EventSize));

    public static ulong DataAt(byte* events, int index) => *(ulong*)(events + (index * EventSize) + DataOffset);

    /// <summary>Adds <paramref name="fd"/> to <paramref name="epoll"/> for <paramref name="events"/>, tagged with <paramref name="data"/>.</summary>
    public static int Add(int epoll, int fd, uint events, ulong data)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + DataOffset) = data;
        return Control(epoll, ControlAdd, fd, ev);
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int Create(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int Control(int epoll, int operation, int fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int Wait(int epoll, byte* events, int maxEvents, int timeout);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buffer, nint count);
}
