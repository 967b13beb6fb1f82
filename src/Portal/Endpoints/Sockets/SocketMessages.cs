using System.Buffers;
using System.Globalization;
using System.Net.WebSockets;
using Portal.Security.Limits;

namespace Portal.Endpoints.Sockets;

public enum ReadStatus { Message, Closed, TooBig }

/// <summary>A whole message read from a WebSocket: its type and bytes (valid until the next read).</summary>
public readonly record struct SocketMessage(ReadStatus Status, WebSocketMessageType Type, ReadOnlyMemory<byte> Data);

/// <summary>Reads whole messages from a WebSocket, never buffering more than the limit.</summary>
public sealed class SocketMessageReader(WebSocket socket, int maxBytes) : IDisposable
{
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);

    public async Task<SocketMessage> ReadAsync(CancellationToken cancellationToken)
    {
        _buffer.ResetWrittenCount();
        while (true)
        {
            var memory = _buffer.GetMemory(4096);
            var result = await socket.ReceiveAsync(memory, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return new SocketMessage(ReadStatus.Closed, result.MessageType, default);
            }
            _buffer.Advance(result.Count);
            if (_buffer.WrittenCount > maxBytes)
            {
                return new SocketMessage(ReadStatus.TooBig, result.MessageType, default);
            }
            if (result.EndOfMessage)
            {
                return new SocketMessage(ReadStatus.Message, result.MessageType, _buffer.WrittenMemory);
            }
        }
    }

    public void Dispose() => _buffer.Clear();
}

/// <summary>
/// A token bucket per connection: <see cref="SocketOptions.Burst"/> messages at once, then
/// <see cref="SocketOptions.MessagesPerSecond"/>; and, for a signed-in user, the bucket all of that user's connections
/// share (<see cref="LimitsOptions.MessagesPerSecondPerUser"/>). Counts what it refuses so a flood can be told from a burst.
/// </summary>
public sealed class FloodGuard(SocketOptions options, TimeProvider time, ClientLimits.SharedBucket? perUser = null)
{
    private double _tokens = options.Burst;
    private long _last = time.GetTimestamp();
    private readonly Queue<long> _refused = new();

    /// <summary>True when the message may be handled.</summary>
    public bool TryTake()
    {
        var now = time.GetTimestamp();
        _tokens = Math.Min(options.Burst, _tokens + time.GetElapsedTime(_last, now).TotalSeconds * options.MessagesPerSecond);
        _last = now;
        if (_tokens >= 1 && (perUser is null || perUser.TryTake()))
        {
            _tokens -= 1;
            return true;
        }
        _refused.Enqueue(now);
        while (_refused.Count > 0 && time.GetElapsedTime(_refused.Peek(), now) > TimeSpan.FromSeconds(10))
        {
            _refused.Dequeue();
        }
        return false;
    }

    /// <summary>Messages refused in the last ten seconds.</summary>
    public int RecentlyRefused => _refused.Count;

    /// <summary>True when the connection should be closed: it kept sending far past its rate.</summary>
    public bool Flooding => _refused.Count >= options.FloodCloseAfter;

    /// <summary>The rates, in words, for the error a refused message gets.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"at most {options.MessagesPerSecond:0.#} a second per connection (bursts of {options.Burst})")
        + (perUser is null ? "" : string.Create(CultureInfo.InvariantCulture, $" and {perUser.Rate:0.#} a second over all your connections"));
}
