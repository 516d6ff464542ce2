using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;

namespace AspireMesh.Mesh.Bench;

/// <summary>Where load goes: the URL, the Host (or :authority) to send, and the HTTP version.</summary>
internal sealed record LoadTarget(Uri Url, string? Host, Version Version)
{
    public string Protocol => Version == HttpVersion.Version20 ? "h2" : "h1";
}

/// <summary>What one constant-rate run measured.</summary>
internal sealed record LoadResult(Histogram Latency, double TargetRate, long Scheduled, long Succeeded, long Failed, TimeSpan Duration)
{
    /// <summary>How late the pacer thread fired each send relative to its intended time (the generator's own lag).</summary>
    public Histogram SendLag { get; init; } = new();

    public double AchievedRate => Succeeded / Duration.TotalSeconds;
}

/// <summary>
/// An open-loop load generator: request i is due at start + i/rate whatever happened to the earlier ones, and its
/// latency is counted from that intended send time, not from when it was actually sent. A stall in the proxy (or in
/// this generator) therefore shows in the latency of every request that should have been sent during it, instead of
/// silently lowering the rate (coordinated omission). Sends are paced by an absolute-time <c>clock_nanosleep</c> on a
/// dedicated thread with a 1 µs timer slack, which hands each send to the thread pool; the requests run on SocketsHttpHandler over many connections
/// (HTTP/1.1) or multiplexed streams (HTTP/2 with prior knowledge).
/// </summary>
internal static class OpenLoopGenerator
{
    /// <summary>A client for <paramref name="version"/> with up to <paramref name="connections"/> HTTP/1.1 connections.</summary>
    public static HttpMessageInvoker CreateClient(Version version, int connections) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        MaxConnectionsPerServer = connections,
        EnableMultipleHttp2Connections = true,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        // TLS entry points (the Gateway's HTTPS port) present the development certificate they generated: the bench
        // talks to its own processes on loopback and measures, it does not authenticate them.
        SslOptions = new System.Net.Security.SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true },
    }, disposeHandler: true);

    /// <summary>
    /// Sends <paramref name="rate"/> requests per second for <paramref name="duration"/>, then waits up to
    /// <paramref name="drain"/> for the last answers (those still missing count as failed).
    /// </summary>
    public static async Task<LoadResult> RunAsync(HttpMessageInvoker client, LoadTarget target, double rate, TimeSpan duration, TimeSpan drain)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        var histogram = new Histogram();
        var sendLag = new Histogram();
        var gate = new Lock();
        long succeeded = 0, failed = 0, inFlight = 1;
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var total = (long)(rate * duration.TotalSeconds);
        var intervalTicks = Stopwatch.Frequency / rate;
        using var timeout = new CancellationTokenSource();

        void Finished()
        {
            if (Interlocked.Decrement(ref inFlight) == 0)
            {
                allDone.TrySetResult();
            }
        }

        async Task SendAsync(long intended)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, target.Url) { Version = target.Version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
                if (target.Host is not null)
                {
                    request.Headers.Host = target.Host;
                }

                using var response = await client.SendAsync(request, timeout.Token).ConfigureAwait(false);
                await response.Content.CopyToAsync(Stream.Null, timeout.Token).ConfigureAwait(false);
                var latency = Stopwatch.GetTimestamp() - intended;
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref succeeded);
                    lock (gate)
                    {
                        histogram.Record(TicksToNanoseconds(latency));
                    }
                }
                else
                {
                    Interlocked.Increment(ref failed);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
            {
                Interlocked.Increment(ref failed);
            }
            finally
            {
                Finished();
            }
        }

        var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 100;
        var scheduler = new Thread(() =>
        {
            Pacer.ReduceTimerSlack();
            for (long i = 0; i < total; i++)
            {
                var intended = start + (long)(i * intervalTicks);
                Pacer.SleepUntil(intended);
                sendLag.Record(TicksToNanoseconds(Stopwatch.GetTimestamp() - intended));
                Interlocked.Increment(ref inFlight);
                // The pacer only schedules; the send itself runs on the thread pool so a slow send cannot delay the next ones.
                ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Send(state.Intended), (Send: (Func<long, Task>)SendAsync, Intended: intended), preferLocal: false);
            }

            Finished();
        })
        { IsBackground = true, Name = "open-loop pacer", Priority = ThreadPriority.AboveNormal };
        scheduler.Start();
        var end = start + (long)(total * intervalTicks);
        await Task.Delay(TimeSpan.FromSeconds(Math.Max(0, (double)(end - Stopwatch.GetTimestamp()) / Stopwatch.Frequency))).ConfigureAwait(false);
        if (await Task.WhenAny(allDone.Task, Task.Delay(drain)).ConfigureAwait(false) != allDone.Task)
        {
            await timeout.CancelAsync().ConfigureAwait(false);
            await allDone.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }

        scheduler.Join();
        return new LoadResult(histogram, rate, total, succeeded, failed, duration) { SendLag = sendLag };
    }

    private static long TicksToNanoseconds(long ticks) => (long)(ticks * (1_000_000_000.0 / Stopwatch.Frequency));
}

/// <summary>Sleeps until an absolute monotonic time with microsecond precision (Linux); coarser elsewhere.</summary>
internal static partial class Pacer
{
    private const int ClockMonotonic = 1;
    private const int TimerAbstime = 1;
    private const int PrSetTimerslack = 29;

    // Stopwatch reads CLOCK_MONOTONIC in nanoseconds on Linux, so its timestamps are clock_nanosleep's deadlines.
    private static readonly bool Precise = OperatingSystem.IsLinux() && Stopwatch.Frequency == 1_000_000_000;

    /// <summary>Asks the kernel to wake this thread within 1 µs of its deadlines (the default slack is 50 µs).</summary>
    public static void ReduceTimerSlack()
    {
        if (Precise)
        {
            _ = Prctl(PrSetTimerslack, 1, 0, 0, 0);
        }
    }

    /// <summary>Returns at or just after Stopwatch timestamp <paramref name="timestamp"/>.</summary>
    public static void SleepUntil(long timestamp)
    {
        if (Precise)
        {
            var deadline = new Timespec { Seconds = timestamp / 1_000_000_000, Nanoseconds = timestamp % 1_000_000_000 };
            while (ClockNanosleep(ClockMonotonic, TimerAbstime, in deadline, IntPtr.Zero) == 4) // EINTR: sleep on
            {
            }

            return;
        }

        while (Stopwatch.GetTimestamp() < timestamp)
        {
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
            Thread.Sleep(remaining > TimeSpan.FromMilliseconds(2) ? remaining - TimeSpan.FromMilliseconds(1) : TimeSpan.Zero);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanosleep(int clock, int flags, in Timespec request, IntPtr remaining);

    [LibraryImport("libc", EntryPoint = "prctl")]
    private static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}
