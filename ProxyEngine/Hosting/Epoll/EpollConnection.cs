using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace AspireMesh.ProxyEngine.Hosting.Epoll;

/// <summary>
/// A Kestrel connection on a non-blocking socket driven by an <see cref="EpollLoop"/>. Data is read only once the
/// kernel has said the socket is readable, until a read returns less than it asked for (edge-triggered: the next
/// arrival raises a new event), and handed to Kestrel on the loop's thread, which parses and runs the request there.
/// Writes go out on the thread that flushed them; a write the kernel cannot take whole waits for the socket to become
/// writable. .NET's socket engine instead tries every read first and waits only when that fails: after a response, a
/// connection has nothing to read yet, so each request cost it a read that found nothing.
/// </summary>
internal sealed class EpollConnection : ConnectionContext, IEpollHandler, IConnectionIdFeature, IConnectionTransportFeature,
    IConnectionItemsFeature, IMemoryPoolFeature, IConnectionLifetimeFeature, IConnectionEndPointFeature, IDuplexPipe
{
    // Kestrel's pool hands out 4 KB blocks; ask for at least half of one per read, as its socket transport does.
    private const int MinimumReadSize = 2048;

    private readonly Socket _socket;
    private readonly EpollLoop _loop;
    private readonly int _slot;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _receiveEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action _resumeReceive;
    private readonly Lock _shutdownLock = new();
    private readonly Task _sending;
    private ValueTask<FlushResult> _pendingFlush;
    private bool _flushPending;
    private bool _receiveDone;
    private bool _peerClosed;
    private bool _socketClosed;
    private Exception? _shutdownReason;
    private TaskCompletionSource? _writable;
    private IDictionary<object, object?>? _items;
    private string? _connectionId;

    public EpollConnection(Socket socket, EpollLoop loop, MemoryPool<byte> pool, long maxReadBufferSize, long maxWriteBufferSize)
    {
        _socket = socket;
        _loop = loop;
        MemoryPool = pool;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionClosed = _closed.Token;
        // Kestrel's reads of the request continue on the loop's thread, inline; a read paused by a full buffer resumes
        // there too. Its writes are sent on the thread that flushed them.
        _input = new Pipe(new PipeOptions(pool, readerScheduler: PipeScheduler.Inline, writerScheduler: loop,
            pauseWriterThreshold: maxReadBufferSize, resumeWriterThreshold: maxReadBufferSize / 2, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(pool, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: maxWriteBufferSize, resumeWriterThreshold: maxWriteBufferSize / 2, useSynchronizationContext: false));
        _resumeReceive = ResumeReceive;
        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IMemoryPoolFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Transport = this;
        _slot = loop.Register(this, (int)socket.Handle);
        _sending = SendAsync();
    }

    public override string ConnectionId
    {
        get => _connectionId ??= Guid.NewGuid().ToString("N");
        set => _connectionId = value;
    }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public MemoryPool<byte> MemoryPool { get; }

    PipeReader IDuplexPipe.Input => _input.Reader;

    PipeWriter IDuplexPipe.Output => _output.Writer;

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public void OnWritable() => Interlocked.Exchange(ref _writable, null)?.TrySetResult();

    public void OnReadable(bool peerEnd)
    {
        // Read on to the peer's end, past short reads.
        _peerClosed |= peerEnd;
        Receive();
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        Shutdown(abortReason);
        _output.Reader.CancelPendingRead();
    }

    public override async ValueTask DisposeAsync()
    {
        _input.Reader.Complete();
        _output.Writer.Complete();
        await _sending.ConfigureAwait(false);
        await _receiveEnded.Task.ConfigureAwait(false);
        _loop.Release(_slot);
        _closed.Dispose();
    }

    // On the loop's thread only.
    private void Receive()
    {
        if (_receiveDone || _flushPending)
        {
            return;
        }

        var input = _input.Writer;
        try
        {
            while (true)
            {
                var memory = input.GetMemory(MinimumReadSize);
                var received = _socket.Receive(memory.Span, SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    // Nothing to read, so not the peer's end either (an event meant for a slot's former owner says so).
                    _peerClosed = false;
                    return;
                }

                if (error != SocketError.Success)
                {
                    EndReceive(new ConnectionResetException($"The connection was reset: {error}."));
                    return;
                }

                if (received == 0)
                {
                    EndReceive(null);
                    return;
                }

                input.Advance(received);
                var flush = input.FlushAsync();
                if (!flush.IsCompleted)
                {
                    _flushPending = true;
                    _pendingFlush = flush;
                    flush.GetAwaiter().UnsafeOnCompleted(_resumeReceive);
                    return;
                }

                var result = flush.Result;
                if (result.IsCompleted || result.IsCanceled)
                {
                    EndReceive(null);
                    return;
                }

                if (received < memory.Length && !_peerClosed)
                {
                    // The kernel had no more: it raises a new event when more arrives. (A read that comes back empty
                    // after one that filled its buffer leaves the buffer taken from the pool for the next data.)
                    return;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            EndReceive(null);
        }
    }

    // On the loop's thread: the input's writer scheduler.
    private void ResumeReceive()
    {
        var flush = _pendingFlush;
        _pendingFlush = default;
        _flushPending = false;
        FlushResult result;
        try
        {
            result = flush.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
            EndReceive(null);
            return;
        }

        if (result.IsCompleted || result.IsCanceled)
        {
            EndReceive(null);
            return;
        }

        // What arrived while the reader was behind raised its event then; read on until the kernel has no more.
        Receive();
    }

    private void EndReceive(Exception? error)
    {
        if (_receiveDone)
        {
            return;
        }

        _receiveDone = true;
        _input.Writer.Complete(Volatile.Read(ref _shutdownReason) ?? error);
        ThreadPool.UnsafeQueueUserWorkItem(static connection =>
        {
            try
            {
                connection._closed.Cancel();
            }
            catch (AggregateException ex)
            {
                // A callback of the connection's end failed; the connection ends all the same.
                connection._loop.Report(ex);
            }
            finally
            {
                connection._receiveEnded.TrySetResult();
            }
        }, this, preferLocal: false);
    }

    private async Task SendAsync()
    {
        Exception? reason = null;
        Exception? unexpected = null;
        var output = _output.Reader;
        try
        {
            while (true)
            {
                var result = await output.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    var remaining = segment;
                    while (!remaining.IsEmpty)
                    {
                        var sent = _socket.Send(remaining.Span, SocketFlags.None, out var error);
                        if (error == SocketError.WouldBlock)
                        {
                            await WritableAsync().ConfigureAwait(false);
                            continue;
                        }

                        if (error != SocketError.Success)
                        {
                            throw new SocketException((int)error);
                        }

                        remaining = remaining[sent..];
                    }
                }

                output.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted)
        {
            reason = new ConnectionResetException(ex.Message, ex);
        }
        catch (ObjectDisposedException ex)
        {
            reason = ex;
        }
        catch (Exception ex)
        {
            reason = ex;
            unexpected = ex;
        }
        finally
        {
            Shutdown(reason);
            output.Complete(unexpected);
            _input.Writer.CancelPendingFlush();
        }
    }

    private Task WritableAsync()
    {
        var writable = new TaskCompletionSource();
        Interlocked.Exchange(ref _writable, writable);
        // The socket may have become writable between the failed send and the line above, its event found no one
        // waiting: the caller sends again either way, and if that fails too, this one's event is still to come.
        return _socket.Poll(0, SelectMode.SelectWrite) ? Task.CompletedTask : writable.Task;
    }

    private void Shutdown(Exception? reason)
    {
        lock (_shutdownLock)
        {
            if (_socketClosed)
            {
                return;
            }

            _socketClosed = true;
            Volatile.Write(ref _shutdownReason, reason ?? new ConnectionAbortedException("The connection's output completed."));
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
                // Already reset by the peer: closing is all that is left.
            }

            _socket.Dispose();
        }

        // A closed socket leaves epoll without an event: end the receiving side on the loop's thread.
        _loop.Schedule(static state => ((EpollConnection)state!).EndReceiveAfterClose(), this);
        Interlocked.Exchange(ref _writable, null)?.TrySetResult();
    }

    private void EndReceiveAfterClose()
    {
        if (_flushPending)
        {
            // The paused read resumes with its flush cancelled and ends there.
            _input.Writer.CancelPendingFlush();
            return;
        }

        EndReceive(null);
    }
}
