using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Hosting.Epoll;

/// <summary>
/// A process's <see cref="EpollLoop"/>s, one per core, started on first use and shared by every listener and upstream
/// connection on them. If they cannot start (the kernel refuses a descriptor: out of file descriptors, say), none runs:
/// <see cref="Available"/> is false, <see cref="Failure"/> says why, and the proxy runs on .NET's socket engine as under
/// <c>--io pool</c> or <c>inline</c>, rather than failing every connection. A connection's code that fails on a loop is
/// reported to the logger given with <see cref="UseLogger"/> (stderr until one is).
/// </summary>
internal sealed class EpollLoops
{
    private readonly Lazy<EpollLoop[]?> _loops;
    private ILogger? _logger;
    private int _next;

    /// <summary>Loops that <paramref name="start"/> starts, <paramref name="count"/> of them, on first use.</summary>
    public EpollLoops(int count, Func<string, Action<Exception>, EpollLoop> start)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentNullException.ThrowIfNull(start);
        _loops = new(() => Start(count, start));
    }

    /// <summary>The process's loops: one per core the process may use.</summary>
    public static EpollLoops Process { get; } = new(Environment.ProcessorCount, EpollLoop.Start);

    /// <summary>Whether the loops run (starting them if this is the first use); false where epoll is not supported.</summary>
    public bool Available => EpollNative.Supported && _loops.Value is not null;

    /// <summary>Why the loops could not start, if they could not.</summary>
    public string? Failure { get; private set; }

    /// <summary>Where faults of connections' code on the loops are logged from now on, unless a logger was given before.</summary>
    public void UseLogger(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        Interlocked.CompareExchange(ref _logger, logger, null);
    }

    /// <summary>The loop for a new connection, in turn.</summary>
    public EpollLoop Next()
    {
        var loops = _loops.Value ?? throw new InvalidOperationException($"The proxy's epoll loops are not running: {Failure}.");
        return loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)loops.Length)];
    }

    private EpollLoop[]? Start(int count, Func<string, Action<Exception>, EpollLoop> start)
    {
        var loops = new List<EpollLoop>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var name = $"epoll loop {i}";
                loops.Add(start(name, exception => Report(name, exception)));
            }

            return [.. loops];
        }
        catch (Exception ex)
        {
            // Whatever refused them (a descriptor, a thread), the proxy serves on without them.
            Failure = ex.Message;
            foreach (var loop in loops)
            {
                loop.Stop();
            }

            return null;
        }
    }

    // On a loop's thread, or a connection's: never throws, which would end the loop or the process.
    private void Report(string loop, Exception exception)
    {
        var logger = Volatile.Read(ref _logger);
        try
        {
            if (logger is not null)
            {
                ProxyEngineLog.EpollLoopFault(logger, exception, loop);
                return;
            }
        }
        catch (Exception)
        {
            // The logger failed (its host has stopped, a provider threw): stderr is left.
        }

        try
        {
            Console.Error.WriteLine($"A connection's code failed on {loop}, which goes on serving its other connections: {exception}");
        }
        catch (Exception)
        {
            // Nowhere left to say it.
        }
    }
}
