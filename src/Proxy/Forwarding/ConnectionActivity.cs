using Portal.Proxy.Telemetry;

namespace Portal.Proxy.Forwarding;

/// <summary>
/// When each direction last carried a message, and since when a message has been arriving; the idle and message
/// timeouts and the first-upstream-byte timing read it.
/// </summary>
internal sealed class ConnectionActivity(TimeProvider time)
{
    private long _lastTicks = time.GetTimestamp();
    private long _firstUpstreamTicks;
    /// <summary>Per direction: when the message now arriving began (0: none).</summary>
    private readonly long[] _messageStarted = new long[2];

    public void BeginMessage(FrameDirection direction) => Interlocked.Exchange(ref _messageStarted[(int)direction], time.GetTimestamp());

    public void EndMessage(FrameDirection direction) => Interlocked.Exchange(ref _messageStarted[(int)direction], 0);

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
