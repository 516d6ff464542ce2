using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace AspireMesh.ProxyEngine.Hosting.Epoll;

/// <summary>
/// A client connection's stream on a non-blocking socket driven by an <see cref="EpollLoop"/>: a read waits for the
/// kernel's readiness event before it asks for data, and completes on the loop's thread, where what follows it (a
/// response's headers and body on their way to the caller) runs on. Reads return without waiting while the last read
/// filled its buffer, since more may be there.
/// </summary>
internal sealed class EpollStream : Stream, IEpollHandler, IValueTaskSource<int>
{
    private readonly Socket _socket;
    private readonly EpollLoop _loop;
    private readonly int _slot;
    private ManualResetValueTaskSourceCore<int> _read;
    private Memory<byte> _readBuffer;
    private CancellationTokenRegistration _readCancellation;
    // The read's state: no read waits (Idle), one waits for an event (Waiting), the loop is reading for it (Receiving).
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Receiving = 2;

    private int _readState;
    private Exception? _readAbort;
    private int _readyEvents;
    private int _readySeen;
    private bool _mayHaveMore;
    private volatile bool _peerClosed;
    private TaskCompletionSource? _writable;
    private int _disposed;

    public EpollStream(Socket socket, EpollLoop loop)
    {
        _socket = socket;
        _loop = loop;
        _read.RunContinuationsAsynchronously = false;
        _slot = loop.Register(this, (int)socket.Handle);
    }

    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/> (each address it resolves to in turn) without .NET's
    /// socket engine, which would otherwise take the socket's events as well.
    /// </summary>
    public static async ValueTask<EpollStream> ConnectAsync(string host, int port, EpollLoop loop, CancellationToken cancellationToken)
    {
        var addresses = System.Net.IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await System.Net.Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            Socket? socket = null;
            EpollStream? stream = null;
            try
            {
                socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, Blocking = false };
                try
                {
                    socket.Connect(address, port);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
                {
                    // Connecting: the socket becomes writable once it is done, either way.
                }

                stream = new EpollStream(socket, loop);
                await stream.WaitWritableAsync(cancellationToken).ConfigureAwait(false);
                var error = (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
                if (error != 0)
                {
                    throw new SocketException(error);
                }

                return stream;
            }
            catch (SocketException ex)
            {
                last = ex;
                if (stream is null)
                {
                    socket?.Dispose();
                }
                else
                {
                    await stream.DisposeAsync().ConfigureAwait(false);
                }
            }
            catch
            {
                if (stream is null)
                {
                    socket?.Dispose();
                }
                else
                {
                    await stream.DisposeAsync().ConfigureAwait(false);
                }

                throw;
            }
        }

        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public void OnWritable() => Interlocked.Exchange(ref _writable, null)?.TrySetResult();

    public void OnReadable(bool peerEnd)
    {
        if (peerEnd)
        {
            // Read on to the peer's end, past short reads.
            _peerClosed = true;
        }

        Interlocked.Increment(ref _readyEvents);
        if (Interlocked.CompareExchange(ref _readState, Receiving, Waiting) == Waiting)
        {
            CompleteWaitingRead();
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        _readAbort = null;
        while (true)
        {
            var seen = Volatile.Read(ref _readyEvents);
            if (_mayHaveMore || _peerClosed || seen != _readySeen)
            {
                _readySeen = seen;
                if (TryReceive(buffer.Span, out var received, out var error))
                {
                    return error is null ? new ValueTask<int>(received) : ValueTask.FromException<int>(error);
                }
            }

            // Nothing there yet: wait for the kernel's next event, unless one came in since the read above.
            _readBuffer = buffer;
            _read.Reset();
            Interlocked.Exchange(ref _readState, Waiting);
            if (Volatile.Read(ref _disposed) != 0 && Interlocked.CompareExchange(ref _readState, Idle, Waiting) == Waiting)
            {
                // Disposed since the check above, its abort before this read waited: no event will come.
                return ValueTask.FromException<int>(ClosedWhileWaiting());
            }

            if ((Volatile.Read(ref _readyEvents) != seen || _peerClosed)
                && Interlocked.CompareExchange(ref _readState, Idle, Waiting) == Waiting)
            {
                continue;
            }

            if (cancellationToken.CanBeCanceled)
            {
                _readCancellation = cancellationToken.UnsafeRegister(static (state, token) => ((EpollStream)state!).CancelWaitingRead(token), this);
            }

            return new ValueTask<int>(this, _read.Version);
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            var sent = _socket.Send(buffer.Span, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                await WaitWritableAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (error != SocketError.Success)
            {
                throw new IOException($"Unable to write data to the transport connection: {error}.", new SocketException((int)error));
            }

            buffer = buffer[sent..];
        }
    }

    private Task WaitWritableAsync(CancellationToken cancellationToken)
    {
        var writable = new TaskCompletionSource();
        Interlocked.Exchange(ref _writable, writable);
        // An event between the failed send (or the connect) and the line above found no one waiting.
        return _socket.Poll(0, SelectMode.SelectWrite) ? Task.CompletedTask : writable.Task.WaitAsync(cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
    {
        EpollLoop.ThrowIfOnLoop();
        return ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        EpollLoop.ThrowIfOnLoop();
        WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    int IValueTaskSource<int>.GetResult(short token)
    {
        _readCancellation.Dispose();
        _readCancellation = default;
        return _read.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _socket.Dispose();
            AbortWaitingRead(ClosedWhileWaiting());

            Interlocked.Exchange(ref _writable, null)?.TrySetResult();
            _loop.Schedule(static state => ((EpollStream)state!).ReleaseSlot(), this);
        }

        base.Dispose(disposing);
    }

    private static IOException ClosedWhileWaiting() =>
        new("The connection was closed while a read was waiting.", new ObjectDisposedException(nameof(EpollStream)));

    private void CancelWaitingRead(CancellationToken token) => AbortWaitingRead(new OperationCanceledException(token));

    // Ends the waiting read with error; if the loop is reading for it just now, the loop ends it unless data came.
    private void AbortWaitingRead(Exception error)
    {
        Interlocked.Exchange(ref _readAbort, error);
        if (Interlocked.CompareExchange(ref _readState, Idle, Waiting) == Waiting)
        {
            _read.SetException(error);
        }
    }

    private void ReleaseSlot() => _loop.Release(_slot);

    // On the loop's thread, for the read that waited for this event.
    private void CompleteWaitingRead()
    {
        _readySeen = Volatile.Read(ref _readyEvents);
        if (!TryReceive(_readBuffer.Span, out var received, out var error))
        {
            // The event was for data already read: wait for the next one, unless the read was cancelled or the
            // stream disposed meanwhile.
            Interlocked.Exchange(ref _readState, Waiting);
            var abort = Volatile.Read(ref _readAbort) ?? (Volatile.Read(ref _disposed) != 0 ? ClosedWhileWaiting() : null);
            if (abort is not null && Interlocked.CompareExchange(ref _readState, Idle, Waiting) == Waiting)
            {
                _read.SetException(abort);
            }

            return;
        }

        _readBuffer = default;
        Interlocked.Exchange(ref _readState, Idle);
        if (error is null)
        {
            _read.SetResult(received);
        }
        else
        {
            _read.SetException(error);
        }
    }

    // False when the kernel has nothing yet; otherwise the bytes read (0 at the end of the stream) or the failure.
    private bool TryReceive(Span<byte> buffer, out int received, out Exception? failure)
    {
        failure = null;
        if (buffer.IsEmpty)
        {
            // A zero-byte read asks only whether data has come: it has, or this would not be reached.
            _mayHaveMore = true;
            received = 0;
            return true;
        }

        try
        {
            received = _socket.Receive(buffer, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                // Nothing to read, so not the peer's end either (an event meant for a slot's former owner says so).
                _mayHaveMore = false;
                _peerClosed = false;
                return false;
            }

            if (error != SocketError.Success)
            {
                failure = new IOException($"Unable to read data from the transport connection: {error}.", new SocketException((int)error));
                return true;
            }
        }
        catch (ObjectDisposedException ex)
        {
            failure = new IOException("The connection was closed.", ex);
            received = 0;
            return true;
        }

        // A read that filled its buffer may have left more behind; one that did not took all there was, unless the
        // peer's end is still to be read.
        _mayHaveMore = (received == buffer.Length && received > 0) || (_peerClosed && received > 0);
        return true;
    }
}
