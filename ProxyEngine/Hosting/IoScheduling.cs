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
    /// (TLS, HTTP/2) as <see cref="Pool"/>; the socket completions of the whole process run inline.
    /// </summary>
    Auto,
}

/// <summary>
/// Where a proxy runs the code that follows a socket event (<c>--io</c>). <b>Pool</b> (.NET's default): every
/// completion is handed to the thread pool. <b>Inline</b>: it runs on the thread that took the event from the kernel
/// (the socket engine's, one per core), and Kestrel hands nothing on either, the way nginx runs a request on the event
/// loop that read it. <b>Auto</b>: inline where that was measured faster, pool elsewhere, listener by listener.
/// Measured (docs/benchmarks.md, "Thread hand-offs (third round)" and the tenth round): a Gateway's plain HTTP/1.1
/// listener wakes about 3 threads per request instead of 13 inline and serves 15-25 % more requests per second; an
/// HTTP/2-over-TLS listener was up to 17 % slower inline (its connections hand every stream to the thread pool
/// anyway, and decrypting on the event threads delays every other socket of theirs), and no slower under auto. A proxy
/// never blocks in a request's path; inline, code that did would stall every connection of its event thread.
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

    // Kestrel binds the declared endpoint itself, or, for localhost and any-address listeners, one endpoint per IP
    // version with the declared port.
    private static bool Binds(System.Net.EndPoint declared, System.Net.EndPoint bound) =>
        ReferenceEquals(declared, bound)
        || declared is System.Net.IPEndPoint d && bound is System.Net.IPEndPoint b && d.Port != 0 && d.Port == b.Port
            && (d.Address.Equals(b.Address)
                || System.Net.IPAddress.IsLoopback(d.Address) && System.Net.IPAddress.IsLoopback(b.Address)
                || IsAny(d.Address) && IsAny(b.Address));

    private static bool IsAny(System.Net.IPAddress address) =>
        address.Equals(System.Net.IPAddress.Any) || address.Equals(System.Net.IPAddress.IPv6Any);
}
