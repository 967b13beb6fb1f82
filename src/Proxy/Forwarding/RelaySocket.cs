using System.Buffers;
using System.Net.WebSockets;

namespace Portal.Proxy.Forwarding;

/// <summary>What <see cref="RelaySocket.ReceiveMessageAsync"/> ended with.</summary>
internal enum ReceivedKind
{
    Message,
    Close,
    TooBig,
    ProtocolError,
    Failed,
}

internal readonly record struct ReceivedMessage(ReceivedKind Kind, WebSocketMessageType Type = default, byte[]? Data = null, string? Error = null);

/// <summary>
/// One leg of a proxied connection, as bytes: the upgraded stream, what has been received and not yet used, and the
/// WebSocket close handshake. The widget's leg is the server's side (frames in are masked, frames out are not); the
/// upstream's is the client's side (the reverse). <see cref="FrameRelay"/> passes frames from one leg to the other
/// as they came; the connection uses the message-level methods here for the config, closes and the proxy's own frames.
/// Writes are serialized, and a frame of the proxy's own is never put inside a frame being relayed.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The SemaphoreSlim's wait handle is never created; there is nothing to dispose.")]
internal sealed class RelaySocket
{
    private const int BufferSize = 16 * 1024;
    /// <summary>The payload of the proxy's keep-alive pings: their pongs are not passed on.</summary>
    internal static readonly byte[] KeepAlivePayload = "portal-keepalive"u8.ToArray();

    private readonly Stream _stream;
    private readonly Action _abort;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private int _state = (int)WebSocketState.Open;
    private long _lastReceived;
    private long _pingSent;

    /// <param name="stream">The upgraded connection.</param>
    /// <param name="isServer">True for the widget's leg: its frames must be masked, and ours to it are not.</param>
    /// <param name="received">Bytes that came with the handshake, before the stream's.</param>
    /// <param name="abort">Cuts the connection at once (a pending read or write then fails).</param>
    /// <param name="time">The clock of the keep-alive timestamps.</param>
    public RelaySocket(Stream stream, bool isServer, ReadOnlySpan<byte> received, Action abort, TimeProvider time)
    {
        _stream = stream;
        IsServer = isServer;
        _abort = abort;
        _time = time;
        _lastReceived = time.GetTimestamp();
        if (!received.IsEmpty)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(BufferSize, received.Length));
            received.CopyTo(_buffer);
            _end = received.Length;
        }
    }

    /// <summary>The widget's leg: frames from it are masked, ours to it are not.</summary>
    public bool IsServer { get; }

    public WebSocketState State => (WebSocketState)Volatile.Read(ref _state);

    /// <summary>The code of the close frame this leg sent, once received.</summary>
    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public string? CloseStatusDescription { get; private set; }

    /// <summary>A relayed message went out without its last frame: only control frames may come before its end.</summary>
    public bool MidMessage { get; private set; }

    /// <summary>When bytes last came from this leg.</summary>
    public long LastReceived => Interlocked.Read(ref _lastReceived);

    /// <summary>When the proxy's last keep-alive ping to this leg went out (0: none).</summary>
    public long PingSent => Interlocked.Read(ref _pingSent);

    /// <summary>Received and not yet consumed.</summary>
    public Memory<byte> Unconsumed => _buffer is null ? Memory<byte>.Empty : _buffer.AsMemory(_start, _end - _start);

    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>
    /// Reads more bytes after the unconsumed ones; false at the end of the stream. While nothing is buffered it first
    /// waits with a zero-byte read, so an idle leg holds no buffer.
    /// </summary>
    public async ValueTask<bool> ReceiveMoreAsync(CancellationToken cancellationToken)
    {
        if (_start == _end && _buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _start = _end = 0;
        }
        if (_buffer is null)
        {
            _ = await _stream.ReadAsync(Memory<byte>.Empty, cancellationToken);
            _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        }
        else if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
        else if (_end == _buffer.Length)
        {
            // A whole message is being read (the config): its frame does not fit yet.
            var bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            _buffer.AsSpan(0, _end).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        if (read == 0)
        {
            return false;
        }
        _end += read;
        Interlocked.Exchange(ref _lastReceived, _time.GetTimestamp());
        return true;
    }

    /// <summary>
    /// Passes relayed bytes on as they are, after <paramref name="header"/> when there is one (a piece of a frame sent as
    /// a frame of its own). False (nothing written) when this leg already sent its close, so nothing may follow; an
    /// exception when the connection fails.
    /// </summary>
    public async ValueTask<bool> RelayAsync(ReadOnlyMemory<byte> header, ReadOnlyMemory<byte> bytes, bool endsMidMessage, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            if (State is not (WebSocketState.Open or WebSocketState.CloseReceived))
            {
                return false;
            }
            if (header.IsEmpty)
            {
                await _stream.WriteAsync(bytes, cancellationToken);
            }
            else
            {
                // One write, not two: a piece and its header go out in one segment.
                var frame = ArrayPool<byte>.Shared.Rent(header.Length + bytes.Length);
                try
                {
                    header.CopyTo(frame);
                    bytes.CopyTo(frame.AsMemory(header.Length));
                    await _stream.WriteAsync(frame.AsMemory(0, header.Length + bytes.Length), cancellationToken);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(frame);
                }
            }
            MidMessage = endsMidMessage;
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Sends a whole message of the proxy's own, in one frame; false when it cannot go now (closed, or between a relayed message's frames).</summary>
    public ValueTask<bool> SendMessageAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType type, CancellationToken cancellationToken) =>
        SendFrameAsync(type == WebSocketMessageType.Text ? Opcode.Text : Opcode.Binary, payload, cancellationToken);

    /// <summary>Sends our close (once).</summary>
    public async Task CloseOutputAsync(WebSocketCloseStatus status, string? reason, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var state = State;
            if (state is not (WebSocketState.Open or WebSocketState.CloseReceived))
            {
                return;
            }
            await WriteFrameAsync(Opcode.Close, Frames.ClosePayload(status, reason), cancellationToken);
            Volatile.Write(ref _state, (int)(state == WebSocketState.CloseReceived ? WebSocketState.Closed : WebSocketState.CloseSent));
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>A keep-alive ping, unless a write is under way (the leg is not idle then).</summary>
    public async Task PingAsync(CancellationToken cancellationToken)
    {
        if (!_writeLock.Wait(0, cancellationToken))
        {
            return; // a write is under way: this leg is not idle
        }
        try
        {
            if (State == WebSocketState.Open)
            {
                Interlocked.Exchange(ref _pingSent, _time.GetTimestamp());
                await WriteFrameAsync(Opcode.Ping, KeepAlivePayload, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            Abort();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Called by the relay when this leg's close frame arrived.</summary>
    public void CloseReceived(WebSocketCloseStatus status, string? reason)
    {
        CloseStatus = status;
        CloseStatusDescription = reason;
        while (true)
        {
            var state = Volatile.Read(ref _state);
            var next = state switch
            {
                (int)WebSocketState.Open => WebSocketState.CloseReceived,
                (int)WebSocketState.CloseSent => WebSocketState.Closed,
                _ => (WebSocketState)state,
            };
            if (Interlocked.CompareExchange(ref _state, (int)next, state) == state)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Reads one whole message (the config, or what a closing peer still sends): pings are answered, pongs dropped,
    /// a close ends it.
    /// </summary>
    public async Task<ReceivedMessage> ReceiveMessageAsync(int maxBytes, CancellationToken cancellationToken)
    {
        byte[]? message = null;
        var length = 0;
        var type = WebSocketMessageType.Text;
        try
        {
            while (true)
            {
                var parse = Frames.TryParseHeader(Unconsumed.Span, out var header, out var error);
                if (parse == FrameParse.Invalid || (parse == FrameParse.Complete && header.Masked != IsServer))
                {
                    return new ReceivedMessage(ReceivedKind.ProtocolError, Error: error ?? (IsServer ? "Frames from a client must be masked" : "Frames from a server must not be masked"));
                }
                if (parse == FrameParse.Complete && header.Opcode is Opcode.Text or Opcode.Binary or Opcode.Continuation
                    && (header.Opcode == Opcode.Continuation) != (message is not null))
                {
                    return new ReceivedMessage(ReceivedKind.ProtocolError, Error: message is null ? "Continuation frame without a message" : "New message before the last one ended");
                }
                if (parse == FrameParse.Complete && !header.IsControl && length + header.PayloadLength > maxBytes)
                {
                    return new ReceivedMessage(ReceivedKind.TooBig);
                }
                if (parse == FrameParse.Incomplete || Unconsumed.Length < header.FrameLength)
                {
                    if (!await ReceiveMoreAsync(cancellationToken))
                    {
                        return new ReceivedMessage(ReceivedKind.Failed, Error: "The connection ended without a close frame");
                    }
                    continue;
                }
                var payload = Unconsumed.Span.Slice(header.HeaderLength, (int)header.PayloadLength);
                if (header.Masked)
                {
                    Frames.Unmask(payload, header.MaskKey, 0);
                }
                switch (header.Opcode)
                {
                    case Opcode.Close:
                        if (!Frames.TryReadClose(payload, out var status, out var reason))
                        {
                            return new ReceivedMessage(ReceivedKind.ProtocolError, Error: "Invalid close frame");
                        }
                        Consume((int)header.FrameLength);
                        CloseReceived(status, reason);
                        return new ReceivedMessage(ReceivedKind.Close);
                    case Opcode.Ping:
                        var pong = payload.ToArray();
                        Consume((int)header.FrameLength);
                        await SendFrameAsync(Opcode.Pong, pong, cancellationToken);
                        continue;
                    case Opcode.Pong:
                        Consume((int)header.FrameLength);
                        continue;
                }
                if (header.Opcode != Opcode.Continuation)
                {
                    type = header.Opcode == Opcode.Text ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
                    message = ArrayPool<byte>.Shared.Rent(Math.Max(256, (int)header.PayloadLength));
                }
                if (length + payload.Length > message!.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(length + payload.Length, message.Length * 2));
                    message.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(message);
                    message = bigger;
                }
                payload.CopyTo(message.AsSpan(length));
                length += payload.Length;
                Consume((int)header.FrameLength);
                if (header.Fin)
                {
                    return new ReceivedMessage(ReceivedKind.Message, type, message.AsSpan(0, length).ToArray());
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            return new ReceivedMessage(ReceivedKind.Failed, Error: ex.Message);
        }
        finally
        {
            if (message is not null)
            {
                ArrayPool<byte>.Shared.Return(message);
            }
        }
    }

    /// <summary>
    /// After our close: what the peer still sends is read and dropped, frame by frame without keeping any, until its
    /// close comes, at most <paramref name="timeout"/>, so that our close is not lost to the reset of a connection
    /// closed with unread data. Cut when it ends otherwise.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        if (State != WebSocketState.CloseSent)
        {
            return;
        }
        try
        {
            using var cancel = new CancellationTokenSource(timeout, _time);
            long skip = 0;
            var garbled = false;
            while (true)
            {
                var data = Unconsumed;
                if (garbled)
                {
                    // No frame boundary can be found after a broken header: everything is dropped until the peer ends.
                    Consume(data.Length);
                }
                else if (skip > 0 && data.Length > 0)
                {
                    var count = (int)Math.Min(skip, data.Length);
                    Consume(count);
                    skip -= count;
                    continue;
                }
                var header = default(FrameHeader);
                var parse = skip > 0 || garbled ? FrameParse.Incomplete : Frames.TryParseHeader(data.Span, out header, out _);
                if (parse == FrameParse.Invalid)
                {
                    garbled = true;
                    continue;
                }
                if (parse == FrameParse.Complete && header.Opcode == Opcode.Close)
                {
                    if (data.Length >= header.FrameLength)
                    {
                        var payload = data.Span.Slice(header.HeaderLength, (int)header.PayloadLength);
                        if (header.Masked)
                        {
                            Frames.Unmask(payload, header.MaskKey, 0);
                        }
                        if (Frames.TryReadClose(payload, out var status, out var reason))
                        {
                            Consume((int)header.FrameLength);
                            CloseReceived(status, reason);
                        }
                        break;
                    }
                }
                else if (parse == FrameParse.Complete)
                {
                    Consume(header.HeaderLength);
                    skip = header.PayloadLength;
                    continue;
                }
                if (!await ReceiveMoreAsync(cancel.Token))
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
        }
        if (State != WebSocketState.Closed)
        {
            Abort();
        }
    }

    /// <summary>Cuts the connection; what is pending on it fails.</summary>
    public void Abort()
    {
        AbortCore();
    }

    /// <summary>Gives back the receive buffer; the leg is not used after this.</summary>
    public void Release()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _start = _end = 0;
        }
    }

    private void AbortCore()
    {
        Volatile.Write(ref _state, (int)WebSocketState.Aborted);
        try
        {
            _abort();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async ValueTask<bool> SendFrameAsync(Opcode opcode, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            if (State is not (WebSocketState.Open or WebSocketState.CloseReceived) || (MidMessage && opcode < Opcode.Close))
            {
                return false;
            }
            await WriteFrameAsync(opcode, payload, cancellationToken);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes one frame of our own; the caller holds the write lock.</summary>
    private async ValueTask WriteFrameAsync(Opcode opcode, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var mask = !IsServer;
        var frame = ArrayPool<byte>.Shared.Rent(Frames.Size(payload.Length, mask));
        try
        {
            var length = Frames.Write(frame, opcode, payload.Span, mask);
            await _stream.WriteAsync(frame.AsMemory(0, length), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }
}
