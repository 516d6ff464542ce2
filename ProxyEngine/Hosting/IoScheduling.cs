namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// Where a proxy runs the code that follows a socket event (<c>--io</c>). <b>Pool</b> (the default, .NET's): every
/// completion is handed to the thread pool. <b>Inline</b>: it runs on the thread that took the event from the kernel
/// (the socket engine's, one per core), and Kestrel hands nothing on either, the way nginx runs a request on the event
/// loop that read it. Measured (docs/benchmarks.md, "Thread hand-offs (third round)"): a Gateway in front of plain
/// HTTP/1.1 upstreams wakes about 3 threads per request instead of 13 and serves about 20 % more requests per second;
/// where HTTP/2 is involved (mTLS between proxies, HTTP/2 clients), its connections still hand every stream to the
/// thread pool and inline was 10-15 % slower, hence not the default. A proxy never blocks in a request's path; in
/// inline mode code that did would stall every connection of its event thread.
/// </summary>
public static class IoScheduling
{
    /// <summary>The runtime's switch for running socket completions on its event threads; read once, at the first socket operation.</summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    // Read when the class is first used, which is before Use changes it.
    private static readonly string? Inherited = Environment.GetEnvironmentVariable(InlineCompletionsVariable);

    /// <summary>Whether <see cref="Use"/> chose inline; Kestrel's listeners then also run the application's code inline.</summary>
    public static bool Inline { get; private set; }

    /// <summary>
    /// The value of <see cref="InlineCompletionsVariable"/> for a process this one starts (an application beside its
    /// sidecar): what this process was given, so the proxy's choice never reaches code that may block.
    /// </summary>
    public static string InheritedValue => Inherited ?? "0";

    /// <summary>Chooses the mode; call before the process's first socket operation (the runtime reads the switch once).</summary>
    public static void Use(bool inline)
    {
        Inline = inline;
        Environment.SetEnvironmentVariable(InlineCompletionsVariable, inline ? "1" : "0");
    }
}
