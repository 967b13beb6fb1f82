namespace Portal.Sessions;

/// <summary>
/// The spine of Portal: sessions and their event logs. Appending assigns the next <c>seq</c> and hands the event
/// to the durable writer, which publishes it to live subscribers once it is committed; subscribing from a seq yields
/// stored history, then the live tail, with no gap and no duplicate. What a subscriber receives is in the database:
/// a kill -9 takes back nothing a client was shown (see docs/durability.md).
/// </summary>
public interface ISessionBus
{
    Task<SessionInfo> CreateSessionAsync(NewSession session, CancellationToken cancellationToken);

    /// <summary>Appends an event; waits (never drops) when the durable writer's queue is full.</summary>
    /// <exception cref="SessionNotFoundException">No session has this id.</exception>
    ValueTask<SessionEvent> AppendAsync(string sessionId, NewSessionEvent newEvent, CancellationToken cancellationToken);

    /// <summary>Every event with a seq above <paramref name="afterSeq"/>, in order, then live ones until cancelled; each only once it is durable.</summary>
    /// <exception cref="SessionNotFoundException">No session has this id.</exception>
    IAsyncEnumerable<SessionEvent> SubscribeAsync(string sessionId, long afterSeq, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> events with a seq above <paramref name="afterSeq"/>, in order, stored or still queued.</summary>
    /// <exception cref="SessionNotFoundException">No session has this id.</exception>
    Task<IReadOnlyList<SessionEvent>> ReadAsync(string sessionId, long afterSeq, int limit, CancellationToken cancellationToken);

    /// <summary>The highest seq appended so far (0 for an empty log).</summary>
    ValueTask<long> GetLastSeqAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>The highest seq up to which the session's events are in the database; clients are shown no event beyond it.</summary>
    /// <exception cref="SessionNotFoundException">No session has this id.</exception>
    ValueTask<long> GetDurableSeqAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>Waits until every event appended to the session so far is in the database.</summary>
    Task WaitUntilDurableAsync(string sessionId, CancellationToken cancellationToken);

    Task SetStatusAsync(string sessionId, string status, CancellationToken cancellationToken);

    Task SetTitleAsync(string sessionId, string title, CancellationToken cancellationToken);

    /// <summary>Names the agent (or upstream) the session talks to, for filtering.</summary>
    Task SetAgentAsync(string sessionId, string agent, CancellationToken cancellationToken);

    /// <summary>Deletes a session and its events; later appends to it fail.</summary>
    Task<bool> DeleteSessionAsync(string sessionId, CancellationToken cancellationToken);
}

public static class SessionBusExtensions
{
    /// <summary>
    /// What a client may be shown of a session now: waits up to <paramref name="wait"/> for the events appended so far
    /// to reach the database (a writer retrying a failed batch may take longer), then returns the durable seq.
    /// </summary>
    public static async Task<long> SettleAsync(this ISessionBus bus, string sessionId, TimeSpan wait, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bus);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(wait);
        try
        {
            await bus.WaitUntilDurableAsync(sessionId, timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
        return await bus.GetDurableSeqAsync(sessionId, cancellationToken);
    }
}
