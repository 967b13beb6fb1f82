using Portal.Sessions;

namespace Portal.Components.Admin;

/// <summary>
/// Follows a stream of live events off the circuit's thread and hands them on in batches, at most one batch per
/// interval: a session streaming hundreds of events a second costs its viewers about twenty renders a second.
/// Disposing stops following.
/// </summary>
public sealed class LiveTail : IAsyncDisposable
{
    /// <summary>About 20 renders a second at most.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(50);

    private readonly List<SessionEvent> _queue = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<IReadOnlyList<SessionEvent>, Task> _deliver;
    private readonly Func<Task> _ended;
    private readonly TimeSpan _interval;
    private readonly Task _following;
    private bool _flushScheduled;

    /// <param name="follow">The live events, given the token that stops them.</param>
    /// <param name="deliver">Receives each batch, oldest event first; called one batch at a time.</param>
    /// <param name="ended">Called once when the stream ends by itself (the session was deleted).</param>
    /// <param name="interval">Shortest time between two batches; <see cref="DefaultInterval"/> when null.</param>
    public LiveTail(Func<CancellationToken, IAsyncEnumerable<SessionEvent>> follow, Func<IReadOnlyList<SessionEvent>, Task> deliver,
        Func<Task> ended, TimeSpan? interval = null)
    {
        _deliver = deliver;
        _ended = ended;
        _interval = interval ?? DefaultInterval;
        _following = FollowAsync(follow, _stop.Token);
    }

    private async Task FollowAsync(Func<CancellationToken, IAsyncEnumerable<SessionEvent>> follow, CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            await foreach (var e in follow(cancellationToken))
            {
                lock (_queue)
                {
                    _queue.Add(e);
                    if (_flushScheduled)
                    {
                        continue;
                    }
                    _flushScheduled = true;
                }
                _ = FlushLaterAsync(cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SessionNotFoundException)
        {
        }
        if (!cancellationToken.IsCancellationRequested)
        {
            await FlushAsync();
            await _ended();
        }
    }

    private async Task FlushLaterAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(_interval, cancellationToken);
            await FlushAsync();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task FlushAsync()
    {
        SessionEvent[] batch;
        lock (_queue)
        {
            _flushScheduled = false;
            batch = [.. _queue];
            _queue.Clear();
        }
        if (batch.Length > 0 && !_stop.IsCancellationRequested)
        {
            await _deliver(batch);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _following;
        _stop.Dispose();
    }
}
