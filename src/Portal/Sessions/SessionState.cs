using System.Threading.Channels;

namespace Portal.Sessions;

/// <summary>
/// The in-memory side of one session's log: the last seq handed out, the events not yet durable, the live
/// subscribers. Every field is guarded by the instance lock; seq assignment and the hand-off to the writer happen
/// under it, and so does the publication to subscribers once the writer has committed an event, so all of them see
/// events in seq order. Subscribers get an event only after it is in the database: a client is never shown an event
/// that a crash could take back, and a seq it has seen is never handed out again after a restart.
/// </summary>
internal sealed class SessionState(string id, long key, long lastSeq)
{
    private readonly Queue<SessionEvent> _pending = new();
    private readonly List<Subscriber> _subscribers = [];
    private List<(long Seq, TaskCompletionSource Done)>? _durableWaiters;

    public string Id { get; } = id;
    public long Key { get; } = key;
    public object Gate => _pending;
    public long LastSeq { get; private set; } = lastSeq;
    public long DurableSeq { get; private set; } = lastSeq;
    public DateTimeOffset LastTouched { get; private set; } = DateTimeOffset.UtcNow;
    /// <summary>Removed from the bus's table; holders of this instance must look the session up again.</summary>
    public bool Retired { get; private set; }
    public bool Deleted { get; private set; }

    /// <summary>Assigns the next seq, if <paramref name="handOff"/> accepts the event; it is published once durable. Call under <see cref="Gate"/>.</summary>
    public SessionEvent? TryAppend(NewSessionEvent e, string payload, int size, DateTimeOffset now, Func<SessionState, SessionEvent, bool> handOff)
    {
        var appended = new SessionEvent(Id, LastSeq + 1, now, e.Direction, e.Type, e.Actor, payload, size);
        if (!handOff(this, appended))
        {
            return null;
        }
        LastSeq = appended.Seq;
        LastTouched = now;
        _pending.Enqueue(appended);
        return appended;
    }

    /// <summary>
    /// Registers a live subscriber and returns the seq it is live from: every event up to it is in the store, every
    /// later one reaches the subscriber when it becomes durable. Call under <see cref="Gate"/>.
    /// </summary>
    public long Subscribe(Subscriber subscriber)
    {
        _subscribers.Add(subscriber);
        LastTouched = DateTimeOffset.UtcNow;
        return DurableSeq;
    }

    private void Publish(SessionEvent durable)
    {
        for (var i = _subscribers.Count - 1; i >= 0; i--)
        {
            if (!_subscribers[i].Writer.TryWrite(durable))
            {
                // A reader that fell this far behind goes back to the store; see SessionBus.SubscribeAsync.
                _subscribers[i].Overflowed = true;
                _subscribers[i].Writer.TryComplete();
                _subscribers.RemoveAt(i);
            }
        }
    }

    /// <summary>The appended events not yet durable, after <paramref name="afterSeq"/>. Call under <see cref="Gate"/>.</summary>
    public SessionEvent[] PendingAfter(long afterSeq) => _pending.Count == 0 ? [] : _pending.Where(p => p.Seq > afterSeq).ToArray();

    public void Unsubscribe(Subscriber subscriber)
    {
        lock (Gate)
        {
            _subscribers.Remove(subscriber);
            LastTouched = DateTimeOffset.UtcNow;
        }
    }

    /// <summary>The writer committed every event of this session up to <paramref name="seq"/>: they go to the live subscribers.</summary>
    public void MarkDurable(long seq)
    {
        List<TaskCompletionSource>? done = null;
        lock (Gate)
        {
            if (seq <= DurableSeq)
            {
                return;
            }
            DurableSeq = seq;
            while (_pending.TryPeek(out var head) && head.Seq <= seq)
            {
                _pending.Dequeue();
                Publish(head);
            }
            if (_durableWaiters is not null)
            {
                for (var i = _durableWaiters.Count - 1; i >= 0; i--)
                {
                    if (_durableWaiters[i].Seq <= seq)
                    {
                        (done ??= []).Add(_durableWaiters[i].Done);
                        _durableWaiters.RemoveAt(i);
                    }
                }
            }
        }
        done?.ForEach(d => d.TrySetResult());
    }

    public Task WaitUntilDurableAsync(CancellationToken cancellationToken)
    {
        lock (Gate)
        {
            if (DurableSeq >= LastSeq || Deleted)
            {
                return Task.CompletedTask;
            }
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (_durableWaiters ??= []).Add((LastSeq, done));
            return done.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Retires the state if nothing needs it in memory. Call under <see cref="Gate"/>.</summary>
    public bool TryRetire(DateTimeOffset idleSince)
    {
        if (_subscribers.Count > 0 || _pending.Count > 0 || LastTouched > idleSince)
        {
            return false;
        }
        Retired = true;
        return true;
    }

    /// <summary>Marks the session deleted: appends fail, subscribers end, waiters are released. Call under <see cref="Gate"/>.</summary>
    public void MarkDeleted()
    {
        Deleted = true;
        Retired = true;
        _pending.Clear();
        foreach (var subscriber in _subscribers)
        {
            subscriber.Writer.TryComplete();
        }
        _subscribers.Clear();
        _durableWaiters?.ForEach(w => w.Done.TrySetResult());
        _durableWaiters = null;
    }

    public int SubscriberCount
    {
        get
        {
            lock (Gate)
            {
                return _subscribers.Count;
            }
        }
    }

    internal sealed class Subscriber(int capacity)
    {
        private readonly Channel<SessionEvent> _channel = Channel.CreateBounded<SessionEvent>(
            new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = false, FullMode = BoundedChannelFullMode.Wait });

        public ChannelWriter<SessionEvent> Writer => _channel.Writer;
        public ChannelReader<SessionEvent> Reader => _channel.Reader;
        /// <summary>Set when the subscriber could not keep up and was dropped from live delivery.</summary>
        public volatile bool Overflowed;
    }
}
