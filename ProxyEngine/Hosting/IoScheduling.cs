using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>Where a proxy runs the code that follows a socket event (<c>--io</c>); see <see cref="IoScheduling"/>.</summary>
public enum IoMode
{
    /// <summary>Every completion is handed to the .NET thread pool (.NET's default).</summary>
    Pool,

    /// <summary>Every listener runs its requests on the socket engine's event threads.</summary>
    Inline,

    /// <summary>
    /// Listeners that declared <see cref="IoScheduling.PreferInline"/> (plain HTTP/1.1) run inline, the others
    /// (TLS, HTTP/2) as <see cref="Pool"/>; the socket completions of the whole process run inline. On Linux the
    /// inline listeners and the cleartext connections to upstreams run on the proxy's own epoll loops.
    /// </summary>
    Auto,
}

/// <summary>
/// Where a proxy runs the code that follows a socket event (<c>--io</c>). <b>Pool</b> (.NET's default): every
/// completion is handed to the thread pool. <b>Inline</b>: it runs on the thread that took the event from the kernel
/// (the socket engine's, one per core), and Kestrel hands nothing on either, the way nginx runs a request on the event
/// loop that read it. <b>Auto</b>: inline where that was measured faster, pool elsewhere, listener by listener; on
/// Linux, inline on the proxy's own epoll loops (one per core), which read a socket only once the kernel has said it is
/// readable, and run the cleartext connections to upstreams too, so that a request and its response are relayed by the
/// thread that read them.
/// Measured (docs/benchmarks.md, "Thread hand-offs (third round)" and the tenth round): a Gateway's plain HTTP/1.1
/// listener wakes about 3 threads per request instead of 13 inline and served about a fifth more requests per second
/// under auto than on the pool; its HTTPS listener was up to 17 % slower inline (its HTTP/2 connections hand every
/// stream to the thread pool anyway, and decrypting on an event thread holds up every other socket of that thread) and
/// the same under auto as on the pool. Under inline and auto the runtime runs one event thread per core the process may
/// use. A proxy never blocks on an event thread: code that did would stall every connection of that thread.
/// </summary>
public static class IoScheduling
{
    /// <summary>The runtime's switch for running socket completions on its event threads; read once, at the first socket operation.</summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    // Read when the class is first used, which is before Use changes it.
    private static readonly string? Inherited = Environment.GetEnvironmentVariable(InlineCompletionsVariable);

    // The listen options that asked to run inline under auto, per Kestrel server (a process runs several listeners).
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<KestrelServerOptions, List<ListenOptions>> InlineListeners = [];

    /// <summary>The mode <see cref="Use"/> chose (<see cref="IoMode.Pool"/> until then).</summary>
    public static IoMode Mode { get; private set; }

    /// <summary>
    /// The value of <see cref="InlineCompletionsVariable"/> for a process this one starts (an application beside its
    /// sidecar): what this process was given, so the proxy's choice never reaches code that may block.
    /// </summary>
    public static string InheritedValue => Inherited ?? "0";

    /// <summary>The proxies' <c>--io</c> option: one of the modes' names, <see cref="IoMode.Auto"/> when not given.</summary>
    public static System.CommandLine.Option<string> Option()
    {
        var option = new System.CommandLine.Option<string>("--io")
        {
            Description = "auto (default): plain HTTP/1.1 listeners run each request on the thread that received its data, as in nginx (on Linux on the proxy's own epoll loops, which also read cleartext upstreams' responses), and TLS and HTTP/2 listeners hand it to the .NET thread pool; inline: every listener runs inline on .NET's socket engine; pool: none does (see docs/benchmarks.md).",
            DefaultValueFactory = _ => Name(IoMode.Auto),
        };
        option.AcceptOnlyFromAmong([.. Enum.GetValues<IoMode>().Select(Name)]);
        return option;
    }

    /// <summary>The <c>--io</c> value for <paramref name="mode"/>.</summary>
    public static string Name(IoMode mode) => mode switch
    {
        IoMode.Inline => "inline",
        IoMode.Auto => "auto",
        _ => "pool",
    };

    /// <summary>The mode an <c>--io</c> value names (the option accepts only these three).</summary>
    public static IoMode Parse(string? value) => value switch
    {
        "inline" => IoMode.Inline,
        "auto" => IoMode.Auto,
        "pool" => IoMode.Pool,
        _ => throw new ArgumentException($"--io takes pool, inline or auto, not '{value}'.", nameof(value)),
    };

    /// <summary>
    /// Whether <paramref name="mode"/> runs the inline listeners and the cleartext connections to upstreams on the
    /// proxy's own epoll loops (<see cref="Epoll.EpollTransport"/>): under <see cref="IoMode.Auto"/>, on Linux.
    /// </summary>
    public static bool UsesOwnLoops(IoMode mode) => mode == IoMode.Auto && Epoll.EpollNative.Supported;

    /// <summary>
    /// Has <paramref name="handler"/> connect to cleartext upstreams on the proxy's own loops when the chosen mode runs
    /// them (<see cref="UsesOwnLoops"/>) and they could start; TLS upstreams stay on .NET's socket engine.
    /// </summary>
    public static void ConfigureUpstreamConnections(System.Net.Http.SocketsHttpHandler handler) =>
        ConfigureUpstreamConnections(handler, Mode, Epoll.EpollLoops.Process);

    internal static void ConfigureUpstreamConnections(System.Net.Http.SocketsHttpHandler handler, IoMode mode, Epoll.EpollLoops loops)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (UsesOwnLoops(mode) && loops.Available)
        {
            handler.ConnectCallback = Epoll.EpollTransport.ConnectCallback(loops);
        }
    }

    /// <summary>Chooses the mode; call before the process's first socket operation (the runtime reads the switch once).</summary>
    public static void Use(IoMode mode)
    {
        Mode = mode;
        Environment.SetEnvironmentVariable(InlineCompletionsVariable, mode == IoMode.Pool ? "0" : "1");
    }

    /// <summary>
    /// Declares that the connections of <paramref name="listen"/> should run inline under <see cref="IoMode.Auto"/>:
    /// call it for plain HTTP/1.1 endpoints, whose requests then never leave the thread that read them.
    /// </summary>
    public static ListenOptions PreferInline(this ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        var listeners = InlineListeners.GetOrCreateValue(listen.KestrelServerOptions);
        lock (listeners)
        {
            listeners.Add(listen);
        }

        return listen;
    }

    /// <summary>Whether a listener of <paramref name="kestrel"/> that binds <paramref name="endpoint"/> runs inline under <paramref name="mode"/>.</summary>
    public static bool RunsInline(IoMode mode, KestrelServerOptions kestrel, System.Net.EndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(endpoint);
        if (mode != IoMode.Auto)
        {
            return mode == IoMode.Inline;
        }

        if (!InlineListeners.TryGetValue(kestrel, out var listeners))
        {
            return false;
        }

        lock (listeners)
        {
            return listeners.Exists(listen => Binds(listen.EndPoint, endpoint));
        }
    }

    // Kestrel binds the declared endpoint itself (an any-address listener that falls back to IPv4 changes its own), or,
    // for a localhost listener (declared as 127.0.0.1), copies for 127.0.0.1 and ::1 with the declared port.
    private static bool Binds(System.Net.EndPoint declared, System.Net.EndPoint bound) =>
        ReferenceEquals(declared, bound)
        || declared is System.Net.IPEndPoint d && bound is System.Net.IPEndPoint b && d.Port != 0 && d.Port == b.Port
            && (d.Address.Equals(b.Address) || d.Address.Equals(System.Net.IPAddress.Loopback) && b.Address.Equals(System.Net.IPAddress.IPv6Loopback));
}
