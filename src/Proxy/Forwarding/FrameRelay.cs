using System.Buffers;
using System.Net.WebSockets;
using Portal.Proxy.Telemetry;

namespace Portal.Proxy.Forwarding;

/// <summary>Why a relay stopped.</summary>
internal enum PumpEndKind
{
    /// <summary>Not ended.</summary>
    None,
    /// <summary>The source sent a close frame.</summary>
    SourceClosed,
    /// <summary>The source's connection failed or vanished without a close frame.</summary>
    SourceFailed,
    /// <summary>Sending to the destination failed, or it is already closing.</summary>
    DestinationFailed,
    /// <summary>The source sent a message over the size limit.</summary>
    TooBig,
    /// <summary>The source broke the WebSocket protocol (RFC 6455); the reason says how.</summary>
    ProtocolError,
    /// <summary>The connection is being torn down.</summary>
    Cancelled,
}

internal readonly record struct PumpEnd(PumpEndKind Kind, WebSocketCloseStatus? Status = null, string? Reason = null, Exception? Error = null);

/// <summary>
/// Passes frames one way as bytes, the way nginx passes an upgraded connection on, but reading every frame header as
/// it goes: each read is written on as it came (the widget's masked frames go upstream with the browser's masks, the
/// upstream's frames go to the widget as they are), so text stays text, binary stays binary and fragments stay
/// fragments, with one write per read and no re-framing. What the header reading adds: the message size limit, the
/// protocol checks, closes taken out for the connection to answer, the proxy's own keep-alive pongs dropped, the first
/// bytes of each message kept (unmasked) for the record, and, when keys must be stripped from the upstream's JSON,
/// those messages assembled and sent as one new frame. Relays never send a close: the connection decides how to
/// close, once it knows why a relay stopped.
/// </summary>
internal sealed class FrameRelay(
    RelaySocket source,
    RelaySocket destination,
    FrameDirection direction,
    int maxMessageBytes,
    int recordedBytes,
    KeyStripper? stripper,
    ConnectionActivity activity,
    Func<FrameDirection, FrameKind, WebSocketMessageType, ReadOnlyMemory<byte>, long, ValueTask> onForwarded)
{
    // The frame whose payload is being read.
    private FrameHeader _frame;
    private long _frameRemaining;
    private int _pieces;
    private byte[]? _pieceHeader;
    // The message being read.
    private bool _inMessage;
    private WebSocketMessageType _messageType;
    private long _messageBytes;
    private bool _assembling;
    private bool _classified;
    private FrameKind _kind;
    private byte[]? _head;
    private int _headLength;
    private byte[]? _whole;
    private int _wholeLength;

    public async Task<PumpEnd> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            // What came with the handshake or after the config is relayed before anything is read.
            var buffered = !source.Unconsumed.IsEmpty;
            while (true)
            {
                try
                {
                    if (buffered)
                    {
                        buffered = false;
                    }
                    else if (!await source.ReceiveMoreAsync(cancellationToken))
                    {
                        return new PumpEnd(PumpEndKind.SourceFailed, Reason: "The connection ended without a close frame");
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return new PumpEnd(PumpEndKind.Cancelled);
                }
                catch (Exception ex)
                {
                    return new PumpEnd(PumpEndKind.SourceFailed, Error: ex);
                }
                activity.Touch(direction);
                var end = await RelayReceivedAsync(cancellationToken);
                if (end is { } stopped)
                {
                    return stopped;
                }
            }
        }
        finally
        {
            EndMessage();
        }
    }

    /// <summary>
    /// Goes through what was received: whole frames are written on in one go, as they came. A frame whose payload is
    /// still arriving goes out piece by piece, each piece a frame of its own (the first with the frame's opcode, the
    /// rest continuations, the mask key turned to the piece's offset so the masked bytes stay as they are): so the
    /// destination is never left inside a frame, and a close can always follow.
    /// </summary>
    private async ValueTask<PumpEnd?> RelayReceivedAsync(CancellationToken cancellationToken)
    {
        var received = source.Unconsumed;
        var position = 0;
        var run = 0; // start of what is yet to be written on as it came
        while (position < received.Length)
        {
            if (_frameRemaining > 0)
            {
                // The rest of a frame that did not come whole.
                var count = (int)Math.Min(_frameRemaining, received.Length - position);
                var offset = _frame.PayloadLength - _frameRemaining;
                TakePayload(received.Span.Slice(position, count));
                _frameRemaining -= count;
                if (!_assembling && await RelayPieceAsync(received.Slice(position, count), offset, cancellationToken) is { } failed)
                {
                    return failed;
                }
                position += count;
                run = position;
                if (_frameRemaining == 0 && _frame.Fin && await EndMessageAsync(received, run, position, cancellationToken) is { } ended)
                {
                    return ended;
                }
                continue;
            }

            var parse = Frames.TryParseHeader(received.Span[position..], out var header, out var error);
            if (parse == FrameParse.Incomplete || (parse == FrameParse.Complete && header.IsControl && received.Length - position < header.FrameLength))
            {
                break; // the rest of the header, or of a control frame, comes with the next read
            }
            error ??= header.Masked == source.IsServer ? null
                : source.IsServer ? "Frames from a client must be masked" : "Frames from a server must not be masked";
            error ??= header.IsControl ? null
                : header.Opcode == Opcode.Continuation && !_inMessage ? "Continuation frame without a message"
                : header.Opcode != Opcode.Continuation && _inMessage ? "New message before the last one ended"
                : null;
            if (error is not null)
            {
                return await FlushAsync(received, run, position, cancellationToken) ?? new PumpEnd(PumpEndKind.ProtocolError, Reason: error);
            }

            if (header.IsControl)
            {
                var payload = received.Slice(position + header.HeaderLength, (int)header.PayloadLength);
                if (header.Opcode == Opcode.Close)
                {
                    if (await FlushAsync(received, run, position, cancellationToken) is { } failed)
                    {
                        return failed;
                    }
                    if (header.Masked)
                    {
                        Frames.Unmask(payload.Span, header.MaskKey, 0);
                    }
                    if (!Frames.TryReadClose(payload.Span, out var status, out var reason))
                    {
                        return new PumpEnd(PumpEndKind.ProtocolError, Reason: "Invalid close frame");
                    }
                    source.Consume(position + (int)header.FrameLength);
                    source.CloseReceived(status, reason);
                    return new PumpEnd(PumpEndKind.SourceClosed, status, reason);
                }
                if (header.Opcode == Opcode.Pong && IsKeepAlivePong(header, payload.Span))
                {
                    // The answer to our own ping: not the other side's business.
                    if (await FlushAsync(received, run, position, cancellationToken) is { } failed)
                    {
                        return failed;
                    }
                    position += (int)header.FrameLength;
                    run = position;
                    continue;
                }
                // Pings and pongs of the peers are theirs: passed on, and answered by the other side.
                position += (int)header.FrameLength;
                continue;
            }

            if (!_inMessage)
            {
                BeginMessage(header);
            }
            else
            {
                _messageBytes += header.PayloadLength;
            }
            if (_messageBytes > maxMessageBytes)
            {
                return await FlushAsync(received, run, position, cancellationToken) ?? new PumpEnd(PumpEndKind.TooBig, Reason: CloseFrames.MessageTooBig);
            }
            _frame = header;
            if (received.Length - position >= header.FrameLength)
            {
                // A whole frame: it goes on as it came, unless its message is being assembled.
                if (_assembling && await FlushAsync(received, run, position, cancellationToken) is { } failed)
                {
                    return failed;
                }
                _frameRemaining = header.PayloadLength;
                TakePayload(received.Span.Slice(position + header.HeaderLength, (int)header.PayloadLength));
                _frameRemaining = 0;
                position += (int)header.FrameLength;
                if (_assembling)
                {
                    run = position;
                }
                if (header.Fin && await EndMessageAsync(received, run, position, cancellationToken) is { } ended)
                {
                    return ended;
                }
                if (header.Fin)
                {
                    run = position;
                }
                continue;
            }
            // Only part of the frame is here: what came before it goes on, then its payload in pieces.
            if (await FlushAsync(received, run, position, cancellationToken, startsMessage: header.Opcode != Opcode.Continuation) is { } flushFailed)
            {
                return flushFailed;
            }
            _frameRemaining = header.PayloadLength;
            _pieces = 0;
            position += header.HeaderLength;
            run = position;
        }
        if (await FlushAsync(received, run, position, cancellationToken) is { } end)
        {
            return end;
        }
        source.Consume(position);
        return null;
    }

    /// <summary>Part of a frame's payload, sent as a frame of its own.</summary>
    private async ValueTask<PumpEnd?> RelayPieceAsync(ReadOnlyMemory<byte> piece, long offset, CancellationToken cancellationToken)
    {
        var opcode = _pieces++ == 0 ? _frame.Opcode : Opcode.Continuation;
        var fin = _frameRemaining == 0 && _frame.Fin;
        _pieceHeader ??= new byte[Frames.MaxHeaderLength];
        var length = Frames.WriteHeader(_pieceHeader, opcode, fin, piece.Length, _frame.Masked ? Frames.MaskAt(_frame.MaskKey, offset) : null);
        return await WriteAsync(_pieceHeader.AsMemory(0, length), piece, endsMidMessage: !fin, cancellationToken);
    }

    private void BeginMessage(FrameHeader header)
    {
        _inMessage = true;
        _messageType = header.Opcode == Opcode.Text ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
        _messageBytes = header.PayloadLength;
        _assembling = stripper is { IsEnabled: true };
        _classified = false;
        _headLength = 0;
        _wholeLength = 0;
        activity.BeginMessage(direction);
    }

    /// <summary>A frame's payload bytes as they pass: the first kept for the record, all of them when assembling.</summary>
    private void TakePayload(ReadOnlySpan<byte> payload)
    {
        var offset = _frame.PayloadLength - _frameRemaining;
        if (!_classified)
        {
            // Text is kept up to the recorded size; audio and binary only until the classifier has seen its bytes.
            var limit = _messageType == WebSocketMessageType.Text ? Math.Max(recordedBytes, FrameClassifier.HeadBytes) : FrameClassifier.HeadBytes;
            var keep = Math.Min(payload.Length, limit - _headLength);
            if (keep > 0)
            {
                _head ??= ArrayPool<byte>.Shared.Rent(Math.Min(limit, Math.Max(keep, 1024)));
                Grow(ref _head, _headLength + keep);
                var kept = _head.AsSpan(_headLength, keep);
                payload[..keep].CopyTo(kept);
                if (_frame.Masked)
                {
                    Frames.Unmask(kept, _frame.MaskKey, offset);
                }
                _headLength += keep;
            }
            if (_headLength >= FrameClassifier.HeadBytes && FrameClassifier.Classify(_messageType, _head.AsSpan(0, _headLength)) == FrameKind.Audio)
            {
                _classified = true;
                _kind = FrameKind.Audio;
            }
            else if (_headLength >= limit)
            {
                _classified = true;
                _kind = FrameClassifier.Classify(_messageType, _head.AsSpan(0, _headLength));
            }
        }
        if (_assembling)
        {
            _whole ??= ArrayPool<byte>.Shared.Rent(16 * 1024);
            Grow(ref _whole, _wholeLength + payload.Length);
            var copied = _whole.AsSpan(_wholeLength, payload.Length);
            payload.CopyTo(copied);
            if (_frame.Masked)
            {
                Frames.Unmask(copied, _frame.MaskKey, offset);
            }
            _wholeLength += payload.Length;
        }
    }

    /// <summary>The last frame of a message was read to its end: the message goes out, then it is recorded.</summary>
    private async ValueTask<PumpEnd?> EndMessageAsync(Memory<byte> received, int run, int position, CancellationToken cancellationToken)
    {
        var kind = _classified ? _kind : FrameClassifier.Classify(_messageType, _head.AsSpan(0, _headLength));
        if (_assembling)
        {
            if (await FlushAsync(received, run, position, cancellationToken) is { } failed)
            {
                return failed;
            }
            var message = _whole.AsMemory(0, _wholeLength);
            var stripped = stripper!.Strip(message.Span);
            try
            {
                if (!await destination.SendMessageAsync(stripped ?? message, _messageType, cancellationToken))
                {
                    return new PumpEnd(PumpEndKind.DestinationFailed);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return new PumpEnd(PumpEndKind.DestinationFailed, Error: ex);
            }
        }
        else
        {
            _inMessage = false; // so the write knows the destination is between messages again
            if (await FlushAsync(received, run, position, cancellationToken) is { } failed)
            {
                return failed;
            }
        }
        var head = _head.AsMemory(0, _headLength);
        var forRecord = kind == FrameKind.Text ? head[..Math.Min(head.Length, recordedBytes)] : ReadOnlyMemory<byte>.Empty;
        try
        {
            await onForwarded(direction, kind, _messageType, forRecord, _messageBytes);
        }
        finally
        {
            EndMessage();
        }
        return null;
    }

    /// <summary>Writes on <c>received[run..position]</c>, telling the destination whether it stops inside a frame or a message.</summary>
    private async ValueTask<PumpEnd?> FlushAsync(Memory<byte> received, int run, int position, CancellationToken cancellationToken, bool startsMessage = false)
    {
        if (position == run)
        {
            return null;
        }
        return await WriteAsync(ReadOnlyMemory<byte>.Empty, received[run..position], _inMessage && !_assembling && !startsMessage, cancellationToken);
    }

    private async ValueTask<PumpEnd?> WriteAsync(ReadOnlyMemory<byte> header, ReadOnlyMemory<byte> bytes, bool endsMidMessage, CancellationToken cancellationToken)
    {
        try
        {
            return await destination.RelayAsync(header, bytes, endsMidMessage, cancellationToken) ? null : new PumpEnd(PumpEndKind.DestinationFailed);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new PumpEnd(PumpEndKind.Cancelled);
        }
        catch (Exception ex)
        {
            return new PumpEnd(PumpEndKind.DestinationFailed, Error: ex);
        }
    }

    private static bool IsKeepAlivePong(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != RelaySocket.KeepAlivePayload.Length)
        {
            return false;
        }
        Span<byte> unmasked = stackalloc byte[payload.Length];
        payload.CopyTo(unmasked);
        if (header.Masked)
        {
            Frames.Unmask(unmasked, header.MaskKey, 0);
        }
        return unmasked.SequenceEqual(RelaySocket.KeepAlivePayload);
    }

    /// <summary>Between messages no buffer is held.</summary>
    private void EndMessage()
    {
        activity.EndMessage(direction);
        _inMessage = false;
        _assembling = false;
        _messageBytes = 0;
        if (_head is not null)
        {
            ArrayPool<byte>.Shared.Return(_head);
            _head = null;
        }
        _headLength = 0;
        if (_whole is not null)
        {
            ArrayPool<byte>.Shared.Return(_whole);
            _whole = null;
        }
        _wholeLength = 0;
    }

    private static void Grow(ref byte[] buffer, int needed)
    {
        if (needed <= buffer.Length)
        {
            return;
        }
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, buffer.Length * 2));
        buffer.AsSpan().CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = bigger;
    }
}
