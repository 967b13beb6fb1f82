using System.Buffers;
using System.Net.WebSockets;
using Portal.Proxy.Telemetry;

namespace Portal.Proxy.Forwarding;

/// <summary>Why a pump stopped.</summary>
internal enum PumpEndKind
{
    /// <summary>Not ended: the message was read.</summary>
    None,
    /// <summary>The source sent a close frame.</summary>
    SourceClosed,
    /// <summary>The source's connection failed or vanished without a close frame.</summary>
    SourceFailed,
    /// <summary>Sending to the destination failed.</summary>
    DestinationFailed,
    /// <summary>The source sent a message over the size limit.</summary>
    TooBig,
    /// <summary>The connection is being torn down.</summary>
    Cancelled,
}

internal readonly record struct PumpEnd(PumpEndKind Kind, WebSocketCloseStatus? Status = null, string? Reason = null, Exception? Error = null);

/// <summary>
/// Copies messages one way, in the style of YARP's WebSocket copy loop: one loop per direction, a zero-byte
/// receive while idle (an idle connection holds no buffer), pooled chunks while a message flows, and each chunk
/// sent on as it arrives with its type and end-of-message flag, so text stays text, binary stays binary and a
/// fragmented message arrives whole. Only messages whose keys must be stripped are assembled before sending.
/// Pumps never send close frames: the connection decides how to close, once it knows why a pump stopped.
/// </summary>
internal sealed class FramePump(
    WebSocket source,
    WebSocket destination,
    FrameDirection direction,
    int maxMessageBytes,
    int recordedBytes,
    KeyStripper? stripper,
    ConnectionActivity activity,
    Func<FrameDirection, FrameKind, WebSocketMessageType, ReadOnlyMemory<byte>, long, ValueTask> onForwarded)
{
    private const int ChunkSize = 16 * 1024;

    public async Task<PumpEnd> RunAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            ValueWebSocketReceiveResult head;
            try
            {
                head = await source.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return new PumpEnd(PumpEndKind.SourceFailed, Error: ex);
            }
            catch (OperationCanceledException)
            {
                return new PumpEnd(PumpEndKind.Cancelled);
            }
            if (head.MessageType == WebSocketMessageType.Close)
            {
                return new PumpEnd(PumpEndKind.SourceClosed, source.CloseStatus, source.CloseStatusDescription);
            }
            activity.Touch(direction);
            var end = await ForwardMessageAsync(head, cancellationToken);
            if (end is { } stopped)
            {
                return stopped;
            }
        }
    }

    private async ValueTask<PumpEnd?> ForwardMessageAsync(ValueWebSocketReceiveResult head, CancellationToken cancellationToken)
    {
        var type = head.MessageType;
        if (head.EndOfMessage)
        {
            // A zero-length message is fully consumed by the zero-byte receive.
            var sent = await SendAsync(ReadOnlyMemory<byte>.Empty, type, true, cancellationToken);
            if (sent is null)
            {
                await onForwarded(direction, FrameClassifier.Classify(type, default), type, ReadOnlyMemory<byte>.Empty, 0);
            }
            return sent;
        }

        activity.BeginMessage(direction);
        var assemble = stripper is { IsEnabled: true };
        var recordLimit = Math.Max(recordedBytes, FrameClassifier.HeadBytes);
        var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        byte[]? whole = null;
        byte[]? recorded = null;
        var wholeLength = 0;
        var recordedLength = 0;
        var chunks = 0;
        long total = 0;
        try
        {
            while (true)
            {
                ValueWebSocketReceiveResult result;
                try
                {
                    result = await source.ReceiveAsync(chunk.AsMemory(), cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return new PumpEnd(PumpEndKind.Cancelled);
                }
                catch (Exception ex)
                {
                    return new PumpEnd(PumpEndKind.SourceFailed, Error: ex);
                }
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return new PumpEnd(PumpEndKind.SourceClosed, source.CloseStatus, source.CloseStatusDescription);
                }
                chunks++;
                total += result.Count;
                if (total > maxMessageBytes)
                {
                    return new PumpEnd(PumpEndKind.TooBig, Reason: CloseFrames.MessageTooBig);
                }
                var data = chunk.AsMemory(0, result.Count);
                if (!(chunks == 1 && result.EndOfMessage) && recordedLength < recordLimit)
                {
                    // A message in several chunks: keep its first bytes for the classifier and the record.
                    var keep = Math.Min(data.Length, recordLimit - recordedLength);
                    recorded ??= ArrayPool<byte>.Shared.Rent(Math.Min(recordLimit, ChunkSize));
                    Grow(ref recorded, recordedLength + keep);
                    data.Span[..keep].CopyTo(recorded.AsSpan(recordedLength));
                    recordedLength += keep;
                }
                if (assemble)
                {
                    whole ??= ArrayPool<byte>.Shared.Rent(ChunkSize);
                    Grow(ref whole, wholeLength + result.Count);
                    data.Span.CopyTo(whole.AsSpan(wholeLength));
                    wholeLength += result.Count;
                }
                else if (await SendAsync(data, type, result.EndOfMessage, cancellationToken) is { } failed)
                {
                    return failed;
                }
                if (result.EndOfMessage)
                {
                    break;
                }
            }
            if (assemble)
            {
                var message = whole.AsMemory(0, wholeLength);
                var stripped = stripper!.Strip(message.Span);
                if (await SendAsync(stripped ?? message, type, true, cancellationToken) is { } failed)
                {
                    return failed;
                }
            }
            // A one-chunk message is still in the chunk buffer: no copy needed to look at it.
            var first = recorded is null ? chunk.AsMemory(0, (int)total) : recorded.AsMemory(0, recordedLength);
            var kind = FrameClassifier.Classify(type, first.Span);
            var forRecord = kind == FrameKind.Text ? first[..Math.Min(first.Length, recordedBytes)] : ReadOnlyMemory<byte>.Empty;
            await onForwarded(direction, kind, type, forRecord, total);
            return null;
        }
        finally
        {
            activity.EndMessage(direction);
            ArrayPool<byte>.Shared.Return(chunk);
            if (whole is not null)
            {
                ArrayPool<byte>.Shared.Return(whole);
            }
            if (recorded is not null)
            {
                ArrayPool<byte>.Shared.Return(recorded);
            }
        }
    }

    private async ValueTask<PumpEnd?> SendAsync(ReadOnlyMemory<byte> data, WebSocketMessageType type, bool endOfMessage, CancellationToken cancellationToken)
    {
        try
        {
            await destination.SendAsync(data, type, endOfMessage, cancellationToken);
            activity.Sent(direction, endOfMessage);
            return null;
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

/// <summary>
/// When each direction last carried a message, and since when a message has been arriving; the idle and message
/// timeouts and the first-upstream-byte timing read it.
/// </summary>
internal sealed class ConnectionActivity(TimeProvider time)
{
    private long _lastTicks = time.GetTimestamp();
    private long _firstUpstreamTicks;
    /// <summary>Per direction: when the message now arriving began (0: none), and whether part of one went out without its end.</summary>
    private readonly long[] _messageStarted = new long[2];
    private readonly int[] _partlySent = new int[2];

    public void BeginMessage(FrameDirection direction) => Interlocked.Exchange(ref _messageStarted[(int)direction], time.GetTimestamp());

    public void EndMessage(FrameDirection direction) => Interlocked.Exchange(ref _messageStarted[(int)direction], 0);

    public void Sent(FrameDirection direction, bool endOfMessage) => Volatile.Write(ref _partlySent[(int)direction], endOfMessage ? 0 : 1);

    /// <summary>
    /// True when the destination of <paramref name="direction"/> got the start of a message but not its end: any frame
    /// sent to it now would continue that message, so only a close can follow.
    /// </summary>
    public bool PartlySent(FrameDirection direction) => Volatile.Read(ref _partlySent[(int)direction]) == 1;

    /// <summary>The direction whose message has been arriving the longest, and for how long; null when none is.</summary>
    public (FrameDirection Direction, TimeSpan For)? SlowestMessage()
    {
        var now = time.GetTimestamp();
        (FrameDirection, TimeSpan)? slowest = null;
        foreach (var direction in (ReadOnlySpan<FrameDirection>)[FrameDirection.ClientToUpstream, FrameDirection.UpstreamToClient])
        {
            var started = Interlocked.Read(ref _messageStarted[(int)direction]);
            if (started != 0 && time.GetElapsedTime(started, now) is var elapsed && (slowest is null || elapsed > slowest.Value.Item2))
            {
                slowest = (direction, elapsed);
            }
        }
        return slowest;
    }

    public long LastActivity => Interlocked.Read(ref _lastTicks);

    /// <summary>Timestamp of the first upstream message, or 0 while there has been none.</summary>
    public long FirstUpstreamMessage => Interlocked.Read(ref _firstUpstreamTicks);

    public event Action? FirstUpstreamMessageArrived;

    public void Touch(FrameDirection direction)
    {
        var now = time.GetTimestamp();
        Interlocked.Exchange(ref _lastTicks, now);
        if (direction == FrameDirection.UpstreamToClient && Interlocked.CompareExchange(ref _firstUpstreamTicks, now, 0) == 0)
        {
            FirstUpstreamMessageArrived?.Invoke();
        }
    }

    public TimeSpan IdleFor => time.GetElapsedTime(LastActivity);
}
