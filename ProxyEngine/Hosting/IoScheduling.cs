namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// Where a proxy runs the code that follows a socket event. <b>Inline</b> (the default): on the thread that took the
/// event from the kernel (the socket engine's, one per core), the way nginx and Envoy run a request on the event loop
/// that read it; a proxied HTTP/1.1 request then wakes about 2.5 threads instead of 12 to 14, which on a shared
/// machine is most of its CPU cost (docs/benchmarks.md, "Hot path"). <b>Pool</b>: every completion is handed to the
/// thread pool, .NET's default, for code that may block a thread. The proxies never block in a request's path; a
/// plug-in that did would stall every connection of its event thread, and then <c>--io pool</c> is the remedy.
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
