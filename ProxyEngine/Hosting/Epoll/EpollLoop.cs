using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Runtime.InteropServices;

namespace AspireMesh.ProxyEngine.Hosting.Epoll;

/// <summary>
/// One thread waiting in <c>epoll_wait</c> for the sockets registered with it (edge-triggered), running what their
/// readiness calls for on itself, and, as a <see cref="PipeScheduler"/>, the work other threads hand it. Tags are slot
/// numbers with a generation, so an event read for a connection that has since gone is recognised and dropped.
/// </summary>
internal sealed unsafe class EpollLoop : PipeScheduler
{
    private const int MaxEvents = 256;
    private const ulong WakeTag = ulong.MaxValue;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly ConcurrentQueue<(Action<object?> Action, object? State)> _work = new();
    private readonly Lock _slotsLock = new();
    private readonly Stack<int> _freeSlots = new();
    private volatile Slot[] _slots = new Slot[64];
    private int _usedSlots;
    private readonly Action<Exception> _report;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _wakePending;
    private int _stopRequested;
    private volatile bool _stopping;

    [ThreadStatic]
    private static bool _onLoop;

    private EpollLoop(int epoll, int wake, string name, Action<Exception> report)
    {
        _epoll = epoll;
        _wake = wake;
        _report = report;
        if (EpollNative.Add(_epoll, _wake, EpollNative.In, WakeTag) != 0)
        {
            throw new InvalidOperationException($"epoll_ctl failed for {name}'s wake-up descriptor (errno {Marshal.GetLastPInvokeError()})");
        }

        new Thread(Run) { IsBackground = true, Name = name }.Start();
    }

    /// <summary>
    /// Starts a loop named <paramref name="name"/> (its thread's name); a connection's code that fails on it goes to
    /// <paramref name="report"/>, and the loop goes on. Throws <see cref="InvalidOperationException"/> if the kernel
    /// refuses the loop its descriptors, having closed what it had.
    /// </summary>
    public static EpollLoop Start(string name, Action<Exception> report)
    {
        var epoll = EpollNative.Create(EpollNative.CloseOnExec);
        if (epoll < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed (errno {Marshal.GetLastPInvokeError()})");
        }

        var wake = EpollNative.EventFd(0, EpollNative.CloseOnExec | EpollNative.NonBlocking);
        if (wake < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            _ = EpollNative.Close(epoll);
            throw new InvalidOperationException($"eventfd failed (errno {errno})");
        }

        try
        {
            return new EpollLoop(epoll, wake, name, report);
        }
        catch (Exception ex)
        {
            _ = EpollNative.Close(wake);
            _ = EpollNative.Close(epoll);
            // No thread for it (a limit on threads or memory): as much a refusal as a descriptor's.
            throw ex as InvalidOperationException ?? new InvalidOperationException($"{name}'s thread could not start ({ex.Message})", ex);
        }
    }

    /// <summary>Reports <paramref name="exception"/>, a failure of a connection's code that the connection survives or ends with.</summary>
    public void Report(Exception exception) => _report(exception);

    /// <summary>
    /// Ends the loop's thread and closes its descriptors (<see cref="Stopped"/> completes then): for a loop no socket
    /// was ever registered with and no one schedules work on, one of a set that could not start whole. Work scheduled
    /// from then on is dropped.
    /// </summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopRequested, 1) == 0)
        {
            _stopping = true;
            Wake();
        }
    }

    /// <summary>Completes once a <see cref="Stop"/>ped loop's thread has closed its descriptors and ended.</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>
    /// Registers <paramref name="connection"/>'s socket for reads, writes and hang-ups; returns the slot to give back
    /// with <see cref="Release"/> once the socket is closed.
    /// </summary>
    public int Register(IEpollHandler connection, int fd)
    {
        int slot;
        ulong tag;
        lock (_slotsLock)
        {
            if (!_freeSlots.TryPop(out slot))
            {
                slot = _usedSlots++;
                if (slot == _slots.Length)
                {
                    var grown = new Slot[_slots.Length * 2];
                    _slots.CopyTo(grown, 0);
                    _slots = grown;
                }
            }

            ref var entry = ref _slots[slot];
            entry.Generation++;
            entry.Handler = connection;
            tag = (ulong)(uint)slot | ((ulong)entry.Generation << 32);
        }

        var events = EpollNative.In | EpollNative.Out | EpollNative.ReadHangUp | EpollNative.EdgeTriggered;
        if (EpollNative.Add(_epoll, fd, events, tag) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Release(slot);
            throw new InvalidOperationException($"epoll_ctl could not add a connection's socket (errno {errno}).");
        }

        return slot;
    }

    /// <summary>Gives <paramref name="slot"/> back; events still tagged with it are dropped from now on.</summary>
    public void Release(int slot)
    {
        lock (_slotsLock)
        {
            ref var entry = ref _slots[slot];
            entry.Handler = null;
            entry.Generation++;
            _freeSlots.Push(slot);
        }
    }

    public override void Schedule(Action<object?> action, object? state)
    {
        if (_stopping)
        {
            return;
        }

        _work.Enqueue((action, state));
        Wake();
    }

    private void Wake()
    {
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            ulong one = 1;
            _ = EpollNative.Write(_wake, &one, sizeof(ulong));
        }
    }

    /// <summary>
    /// Throws if the calling thread is a loop's: a blocking wait there would stop every connection of that loop, the
    /// one waited for among them.
    /// </summary>
    public static void ThrowIfOnLoop()
    {
        if (_onLoop)
        {
            throw new InvalidOperationException($"A blocking call on {Thread.CurrentThread.Name} would stop its connections; use the asynchronous call.");
        }
    }

    private void Run()
    {
        _onLoop = true;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * EpollNative.EventSize));
        while (true)
        {
            var count = EpollNative.Wait(_epoll, events, MaxEvents, -1);
            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == EpollNative.Interrupted)
                {
                    continue;
                }

                throw new InvalidOperationException($"epoll_wait failed (errno {Marshal.GetLastPInvokeError()})");
            }

            for (var i = 0; i < count; i++)
            {
                var tag = EpollNative.DataAt(events, i);
                if (tag == WakeTag)
                {
                    ulong value;
                    _ = EpollNative.Read(_wake, &value, sizeof(ulong));
                    // A full fence: the queue is read below only after this, so work queued after it wakes the loop again.
                    Interlocked.Exchange(ref _wakePending, 0);
                    if (_stopping)
                    {
                        // No wake-up writes to the descriptor from here on (only Stop's could have been pending).
                        Volatile.Write(ref _wakePending, 1);
                        NativeMemory.Free(events);
                        _ = EpollNative.Close(_wake);
                        _ = EpollNative.Close(_epoll);
                        _stopped.TrySetResult();
                        return;
                    }

                    continue;
                }

                // Read without the lock: a slot reused at this moment may get its predecessor's event, which a handler
                // takes as a readiness to check (its read or send finds nothing and it waits on).
                var slots = _slots;
                var slot = (int)(uint)tag;
                if (slot < slots.Length)
                {
                    var entry = slots[slot];
                    if (entry.Generation == (uint)(tag >> 32))
                    {
                        Run(entry.Handler, EpollNative.EventsAt(events, i));
                    }
                }
            }

            while (_work.TryDequeue(out var work))
            {
                Run(work.Action, work.State);
            }
        }
    }

    // A failure in one connection's code must not stop the loop that serves the others; it is a fault to report.
    private void Run(IEpollHandler? handler, uint events)
    {
        if (handler is null)
        {
            return;
        }

        try
        {
            if ((events & EpollNative.WritableEvents) != 0)
            {
                handler.OnWritable();
            }

            if ((events & EpollNative.ReadableEvents) != 0)
            {
                handler.OnReadable(peerEnd: (events & EpollNative.EndEvents) != 0);
            }
        }
        catch (Exception ex)
        {
            _report(ex);
        }
    }

    private void Run(Action<object?> action, object? state)
    {
        try
        {
            action(state);
        }
        catch (Exception ex)
        {
            _report(ex);
        }
    }

    private struct Slot
    {
        public IEpollHandler? Handler;
        public uint Generation;
    }
}

/// <summary>What a socket registered with an <see cref="EpollLoop"/> does when the kernel reports it ready; on the loop's thread.</summary>
internal interface IEpollHandler
{
    /// <summary>The socket may take more data, or a send will fail at once.</summary>
    void OnWritable();

    /// <summary>
    /// A read will find something: data, or with <paramref name="peerEnd"/> the peer's end or a failure, perhaps after
    /// data that came with it in this one event (the next event comes only with more).
    /// </summary>
    void OnReadable(bool peerEnd);
}
