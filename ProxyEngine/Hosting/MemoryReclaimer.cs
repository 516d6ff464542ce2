using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// Gives the memory a burst of load made the GC keep back to the system once the load has fallen
/// (<c>--memory-reclaim-interval</c>). .NET's GC keeps what a peak needed: after a minute at full load a sidecar stays
/// 8-28 MB above what 1000 requests/s need, because objects that were in flight when collections ran were promoted to
/// generation 2, which is collected rarely, and freed regions are decommitted slowly. Every interval this compares the
/// allocation rate with the highest since the last reclaim; when it has fallen to a quarter or less and the GC holds at
/// least 8 MB more than after the last reclaim, one compacting collection in aggressive mode returns the difference, and
/// glibc's <c>malloc_trim</c> the native memory freed since. Once after start-up (seven intervals in) it reclaims whatever
/// the load, for what start-up left; after that nothing happens under steady load (the rate does not fall),
/// and at most once per six intervals, so the pause (12-19 ms in the tests' Debug build) is rare. Envoy's overload
/// manager has the same lever ("shrink heap"). Each reclaim first empties the shared buffer pool of what the burst left in
/// it (<see cref="PooledBuffers"/>); each reclaim, and once one interval after start, also lets go of the mapped code
/// pages the process no longer runs (<see cref="MappedCode"/>); in a Native AOT process, the one after start again on
/// the next <see cref="MappedCode.FollowUpPasses"/> intervals.
/// </summary>
public sealed partial class MemoryReclaimer(TimeSpan interval, ILogger<MemoryReclaimer> logger) : BackgroundService
{
    private static long _reclaims;
    private static long _reclaimedBytes;
    private static long _codeReleasedBytes;

    /// <summary>How many times this process returned memory (for <c>/debug/runtime</c>).</summary>
    public static long Reclaims => Interlocked.Read(ref _reclaims);

    /// <summary>The resident bytes returned over all reclaims (the process's resident set before less after).</summary>
    public static long ReclaimedBytes => Interlocked.Read(ref _reclaimedBytes);

    /// <summary>The resident bytes of mapped code let go of over all releases (<see cref="MappedCode"/>).</summary>
    public static long CodeReleasedBytes => Interlocked.Read(ref _codeReleasedBytes);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var policy = new MemoryReclaimPolicy();
        using var timer = new PeriodicTimer(interval);
        var allocated = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();
        var startUpReleased = false;
        var followUps = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (!startUpReleased)
                {
                    // One interval after start: the start-up code has run.
                    startUpReleased = true;
                    var rss = Environment.WorkingSet;
                    var startUpCode = MappedCode.Release(dropUnmappedPages: true);
                    Interlocked.Add(ref _codeReleasedBytes, startUpCode);
                    if (startUpCode > 0)
                    {
                        ProxyEngineLog.ReleasedStartUpCode(logger, startUpCode / 1048576.0, rss / 1048576.0, Environment.WorkingSet / 1048576.0);
                    }

                    // What reading the maps allocated is not load.
                    allocated = GC.GetTotalAllocatedBytes();
                    clock.Restart();
                    followUps = MappedCode.FollowUpPasses;
                    continue;
                }

                if (followUps > 0)
                {
                    // Between samples, which keep their pace; what reading the maps allocated is not load.
                    followUps--;
                    var before = GC.GetTotalAllocatedBytes();
                    Interlocked.Add(ref _codeReleasedBytes, MappedCode.Release(dropUnmappedPages: true));
                    allocated += GC.GetTotalAllocatedBytes() - before;
                }

                var now = GC.GetTotalAllocatedBytes();
                var rate = (now - allocated) / Math.Max(clock.Elapsed.TotalSeconds, 0.001);
                allocated = now;
                clock.Restart();
                var committed = GC.GetGCMemoryInfo(GCKind.Any).TotalCommittedBytes;
                if (!policy.ShouldReclaim(rate, committed))
                {
                    continue;
                }

                var reason = policy.StartUpPending ? "start-up has settled" : "load fell";
                var rssBefore = Environment.WorkingSet;
                // Before the collection, which then frees them.
                var pooled = PooledBuffers.Drain();
                var pause = Stopwatch.StartNew();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                pause.Stop();
                TrimNativeHeap();
                var after = GC.GetGCMemoryInfo(GCKind.Any).TotalCommittedBytes;
                var rssAfter = Environment.WorkingSet;
                // Counted on its own (codeReleasedBytes), not in what the collection returned.
                var code = MappedCode.Release();
                Interlocked.Add(ref _codeReleasedBytes, code);
                policy.Reclaimed(rate, after);
                Interlocked.Increment(ref _reclaims);
                Interlocked.Add(ref _reclaimedBytes, Math.Max(0, rssBefore - rssAfter));
                ProxyEngineLog.MemoryReclaimed(logger, reason, rate / 1048576, policy.LastPeakRate / 1048576, (rssBefore - rssAfter) / 1048576.0, rssBefore / 1048576.0, rssAfter / 1048576.0,
                    committed / 1048576.0, after / 1048576.0, pause.Elapsed.TotalMilliseconds, pooled / 1048576.0, code / 1048576.0);
                // What the collection allocated is not load.
                allocated = GC.GetTotalAllocatedBytes();
                clock.Restart();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static bool _nativeTrim = OperatingSystem.IsLinux();

    /// <summary>
    /// glibc keeps native memory that was freed (OpenSSL's connection buffers, the runtime's own) in its arenas;
    /// <c>malloc_trim</c> gives the free pages back. C libraries without it (musl) leave nothing to do.
    /// </summary>
    private static void TrimNativeHeap()
    {
        if (!_nativeTrim)
        {
            return;
        }

        try
        {
            _ = MallocTrim(0);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _nativeTrim = false;
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}

/// <summary>
/// When <see cref="MemoryReclaimer"/> collects: the allocation rate has fallen to a quarter of its peak since the last
/// reclaim (or less), the GC holds at least 8 MB more than right after that reclaim, and six samples have passed since.
/// The first time, six samples after start (the reclaimer samples from its second interval on), it reclaims whatever
/// the load and the heap: what start-up left (configuration, the first snapshot, connections' set-up) was promoted by
/// the first collections and stays in generation 2, which a proxy under ordinary load collects rarely, so one reclaim
/// returns it however busy the proxy is; and at a known time, so that the reclaims after it are all for a fall of load.
/// </summary>
public sealed class MemoryReclaimPolicy
{
    /// <summary>The least memory worth a full collection.</summary>
    public const long MinimumExcessBytes = 8L * 1024 * 1024;

    /// <summary>How far the allocation rate must fall below its peak.</summary>
    public const double LoadDrop = 4;

    /// <summary>Samples that must pass between two reclaims.</summary>
    public const int Spacing = 6;

    private double _peakRate;
    private long _floor;
    private int _samplesSince;
    private bool _startUpReclaimed;

    /// <summary>True until the first reclaim, the one for what start-up left, which waits only for the spacing.</summary>
    public bool StartUpPending => !_startUpReclaimed;

    /// <summary>The peak allocation rate (bytes per second) that the last reclaim compared against.</summary>
    public double LastPeakRate { get; private set; }

    /// <summary>Takes one sample; true when a reclaim is due.</summary>
    public bool ShouldReclaim(double allocationRate, long committedBytes)
    {
        _samplesSince++;
        _peakRate = Math.Max(_peakRate, allocationRate);
        if (!_startUpReclaimed)
        {
            return _samplesSince >= Spacing;
        }

        return _samplesSince >= Spacing && committedBytes - _floor >= MinimumExcessBytes && allocationRate * LoadDrop <= _peakRate;
    }

    /// <summary>Records a reclaim: the new floor, and the rate that is the peak from now on.</summary>
    public void Reclaimed(double allocationRate, long committedAfter)
    {
        LastPeakRate = _peakRate;
        _peakRate = allocationRate;
        _floor = committedAfter;
        _samplesSince = 0;
        _startUpReclaimed = true;
    }
}
