using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Portal.Sessions.Redaction;
using Portal.Sessions.Search;
using Portal.Sessions.Storage;

namespace Portal.Sessions;

internal sealed partial class SessionBus : ISessionBus
{
    private const int HistoryPageSize = 512;
    private readonly ConcurrentDictionary<string, SessionState> _states = new(StringComparer.Ordinal);
    private readonly IDbContextFactory<PortalDbContext> _dbFactory;
    private readonly DurableEventWriter _writer;
    private readonly TimeProvider _time;
    private readonly ILogger<SessionBus> _logger;
    private readonly SessionsOptions _options;

    public SessionBus(
        IDbContextFactory<PortalDbContext> dbFactory,
        DurableEventWriter writer,
        IOptions<SessionsOptions> options,
        TimeProvider time,
        ILogger<SessionBus> logger)
    {
        _dbFactory = dbFactory;
        _writer = writer;
        _time = time;
        _logger = logger;
        _options = options.Value;
        // Between batches the writer lets the bus release the memory of sessions nobody is using.
        writer.Housekeeping = RetireIdleStates;
    }

    public int LoadedSessionCount => _states.Count;

    private long _appended;

    /// <summary>Events appended since start, for the status page's rate.</summary>
    public long AppendedEvents => Interlocked.Read(ref _appended);

    public async Task<SessionInfo> CreateSessionAsync(NewSession session, CancellationToken cancellationToken)
    {
        if (!SessionKinds.IsKnown(session.Kind) || !SessionStatuses.IsKnown(session.Status))
        {
            throw new ArgumentException($"Unknown session kind '{session.Kind}' or status '{session.Status}'.", nameof(session));
        }
        var now = _time.GetUtcNow();
        var row = new SessionRow
        {
            Id = session.Id ?? SessionJson.NewId(),
            Kind = session.Kind,
            OwnerId = session.OwnerId,
            Title = session.Title,
            Agent = session.Agent,
            CreatedAt = now,
            LastActivityAt = now,
            Status = session.Status,
        };
        await using (var db = await _dbFactory.CreateDbContextAsync(cancellationToken))
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            db.Sessions.Add(row);
            await db.SaveChangesAsync(cancellationToken);
            if (row.Title is not null)
            {
                await IndexTitleAsync(db, row.Key, row.Title, cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
        _states[row.Id] = new SessionState(row.Id, row.Key, 0);
        Log.SessionCreated(_logger, row.Id, row.Kind);
        return SessionStore.ToInfo(row);
    }

    public async ValueTask<SessionEvent> AppendAsync(string sessionId, NewSessionEvent newEvent, CancellationToken cancellationToken)
    {
        var original = newEvent.Payload;
        var size = newEvent.Size ?? System.Text.Encoding.UTF8.GetByteCount(original);
        var payload = StoredPayload.Limit(PayloadRedactor.Redact(original), _options.MaxStoredPayloadBytes);
        while (true)
        {
            var state = await GetStateAsync(sessionId, cancellationToken);
            lock (state.Gate)
            {
                if (state.Deleted)
                {
                    throw new SessionNotFoundException(sessionId);
                }
                if (!state.Retired)
                {
                    var appended = state.TryAppend(newEvent, payload, size, _time.GetUtcNow(), _writer.TryEnqueue);
                    if (appended is not null)
                    {
                        Interlocked.Increment(ref _appended);
                        return appended;
                    }
                }
            }
            if (!state.Retired)
            {
                // The writer's queue is full: wait for room rather than drop anything.
                await _writer.WaitForRoomAsync(cancellationToken);
            }
        }
    }

    public async IAsyncEnumerable<SessionEvent> SubscribeAsync(
        string sessionId, long afterSeq, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var last = Math.Max(0, afterSeq);
        while (!cancellationToken.IsCancellationRequested)
        {
            var state = await GetStateAsync(sessionId, cancellationToken);
            var subscriber = new SessionState.Subscriber(_options.SubscriberBuffer);
            long liveFrom;
            lock (state.Gate)
            {
                if (state.Deleted)
                {
                    yield break;
                }
                if (state.Retired)
                {
                    continue;
                }
                liveFrom = state.Subscribe(subscriber);
            }
            try
            {
                // History: everything up to liveFrom is durable, so the store holds it, gap-free.
                while (last < liveFrom)
                {
                    var page = await ReadStoredAsync(state, last, liveFrom, HistoryPageSize, cancellationToken);
                    foreach (var e in page)
                    {
                        yield return e;
                        last = e.Seq;
                    }
                    if (page.Count < HistoryPageSize)
                    {
                        break;
                    }
                }
                // Live tail: each event as the writer commits it.
                while (await subscriber.Reader.WaitToReadAsync(cancellationToken))
                {
                    while (subscriber.Reader.TryRead(out var e))
                    {
                        if (e.Seq > last)
                        {
                            yield return e;
                            last = e.Seq;
                        }
                    }
                }
                if (!subscriber.Overflowed)
                {
                    yield break; // the session was deleted
                }
                Log.SubscriberCatchingUp(_logger, sessionId, last);
            }
            finally
            {
                state.Unsubscribe(subscriber);
            }
        }
    }

    public async Task<IReadOnlyList<SessionEvent>> ReadAsync(string sessionId, long afterSeq, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var state = await GetStateAsync(sessionId, cancellationToken);
        long upTo;
        SessionEvent[] pending;
        lock (state.Gate)
        {
            upTo = state.LastSeq;
            pending = state.PendingAfter(afterSeq);
        }
        var events = await ReadStoredAsync(state, afterSeq, upTo, limit, cancellationToken);
        var last = events.Count > 0 ? events[^1].Seq : afterSeq;
        foreach (var e in pending)
        {
            if (events.Count >= limit)
            {
                break;
            }
            if (e.Seq > last && e.Seq <= upTo)
            {
                events.Add(e);
                last = e.Seq;
            }
        }
        return events;
    }

    public async ValueTask<long> GetLastSeqAsync(string sessionId, CancellationToken cancellationToken)
    {
        var state = await GetStateAsync(sessionId, cancellationToken);
        lock (state.Gate)
        {
            return state.LastSeq;
        }
    }

    public async ValueTask<long> GetDurableSeqAsync(string sessionId, CancellationToken cancellationToken)
    {
        var state = await GetStateAsync(sessionId, cancellationToken);
        lock (state.Gate)
        {
            return state.DurableSeq;
        }
    }

    public async Task WaitUntilDurableAsync(string sessionId, CancellationToken cancellationToken)
    {
        var state = await GetStateAsync(sessionId, cancellationToken);
        await state.WaitUntilDurableAsync(cancellationToken);
    }

    public async Task SetStatusAsync(string sessionId, string status, CancellationToken cancellationToken)
    {
        if (!SessionStatuses.IsKnown(status))
        {
            throw new ArgumentException($"Unknown session status '{status}'.", nameof(status));
        }
        await UpdateRowAsync(sessionId, s => s.SetProperty(r => r.Status, status), cancellationToken);
    }

    public async Task SetTitleAsync(string sessionId, string title, CancellationToken cancellationToken)
    {
        var trimmed = title.Trim();
        if (trimmed.Length > 200)
        {
            trimmed = trimmed[..200];
        }
        // The title and its entry in the full-text index change together.
        await using var db = await _dbFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var key = await db.Sessions.Where(s => s.Id == sessionId).Select(s => (long?)s.Key).SingleOrDefaultAsync(cancellationToken)
            ?? throw new SessionNotFoundException(sessionId);
        await db.Sessions.Where(s => s.Key == key).ExecuteUpdateAsync(s => s.SetProperty(r => r.Title, trimmed), cancellationToken);
        await IndexTitleAsync(db, key, trimmed, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public Task SetAgentAsync(string sessionId, string agent, CancellationToken cancellationToken)
    {
        var trimmed = agent.Trim();
        if (trimmed.Length > 100)
        {
            trimmed = trimmed[..100];
        }
        return UpdateRowAsync(sessionId, s => s.SetProperty(r => r.Agent, trimmed), cancellationToken);
    }

    public async Task<bool> DeleteSessionAsync(string sessionId, CancellationToken cancellationToken)
    {
        if (_states.TryRemove(sessionId, out var state))
        {
            lock (state.Gate)
            {
                state.MarkDeleted();
            }
        }
        await using var db = await _dbFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var key = await db.Sessions.Where(s => s.Id == sessionId).Select(s => (long?)s.Key).SingleOrDefaultAsync(cancellationToken);
        if (key is null)
        {
            return false;
        }
        // The events go with their session (ON DELETE CASCADE); their text leaves the full-text index and its backlog with them.
        var (first, last) = SessionSearch.Range(key.Value);
        await db.Database.ExecuteSqlAsync($"DELETE FROM \"SessionSearch\" WHERE rowid BETWEEN {first} AND {last}", cancellationToken);
        await db.Database.ExecuteSqlAsync($"DELETE FROM \"SearchBacklog\" WHERE \"Row\" BETWEEN {first} AND {last}", cancellationToken);
        await db.Sessions.Where(s => s.Key == key).ExecuteDeleteAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        Log.SessionDeleted(_logger, sessionId);
        return true;
    }

    private static async Task IndexTitleAsync(PortalDbContext db, long key, string? title, CancellationToken cancellationToken)
    {
        var row = SessionSearch.TitleRowId(key);
        if (string.IsNullOrWhiteSpace(title))
        {
            await db.Database.ExecuteSqlAsync($"DELETE FROM \"SessionSearch\" WHERE rowid = {row}", cancellationToken);
        }
        else
        {
            await db.Database.ExecuteSqlAsync($"INSERT OR REPLACE INTO \"SessionSearch\" (rowid, \"Text\") VALUES ({row}, {title})", cancellationToken);
        }
    }

    /// <summary>Releases the in-memory state of idle sessions; called periodically by the writer's housekeeping.</summary>
    public int RetireIdleStates()
    {
        var idleSince = _time.GetUtcNow() - _options.IdleStateLifetime;
        var retired = 0;
        foreach (var (id, state) in _states)
        {
            lock (state.Gate)
            {
                if (state.TryRetire(idleSince))
                {
                    _states.TryRemove(new KeyValuePair<string, SessionState>(id, state));
                    retired++;
                }
            }
        }
        return retired;
    }

    private async Task UpdateRowAsync(
        string sessionId,
        Action<Microsoft.EntityFrameworkCore.Query.UpdateSettersBuilder<SessionRow>> setters,
        CancellationToken cancellationToken)
    {
        await using var db = await _dbFactory.CreateDbContextAsync(cancellationToken);
        var updated = await db.Sessions.Where(s => s.Id == sessionId).ExecuteUpdateAsync(setters, cancellationToken);
        if (updated == 0)
        {
            throw new SessionNotFoundException(sessionId);
        }
    }

    private async ValueTask<SessionState> GetStateAsync(string sessionId, CancellationToken cancellationToken)
    {
        if (_states.TryGetValue(sessionId, out var state))
        {
            return state;
        }
        if (!SessionJson.IsValidId(sessionId))
        {
            throw new SessionNotFoundException(sessionId);
        }
        await using var db = await _dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.Sessions.AsNoTracking()
            .Where(s => s.Id == sessionId)
            .Select(s => new { s.Key, LastSeq = db.SessionEvents.Where(e => e.SessionKey == s.Key).Max(e => (long?)e.Seq) ?? 0 })
            .SingleOrDefaultAsync(cancellationToken)
            ?? throw new SessionNotFoundException(sessionId);
        // Nothing can be appended to a session with no state, so the stored max seq is current; if another
        // caller loaded it meanwhile, theirs wins and this copy is dropped.
        return _states.GetOrAdd(sessionId, new SessionState(sessionId, row.Key, row.LastSeq));
    }

    private async Task<List<SessionEvent>> ReadStoredAsync(SessionState state, long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        var (sessionId, sessionKey) = (state.Id, state.Key);
        await using var db = await _dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.SessionEvents.AsNoTracking()
            .Where(e => e.SessionKey == sessionKey && e.Seq > after && e.Seq <= upTo)
            .OrderBy(e => e.Seq)
            .Take(limit)
            .Select(e => new SessionEvent(sessionId, e.Seq, e.Time, e.Direction, e.Type, e.Actor, e.Payload, e.Size))
            .ToListAsync(cancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Session {SessionId} created ({Kind})")]
        public static partial void SessionCreated(ILogger logger, string sessionId, string kind);

        [LoggerMessage(2, LogLevel.Information, "Session {SessionId} deleted")]
        public static partial void SessionDeleted(ILogger logger, string sessionId);

        [LoggerMessage(3, LogLevel.Debug, "A subscriber of session {SessionId} fell behind; catching up from the store after seq {Seq}")]
        public static partial void SubscriberCatchingUp(ILogger logger, string sessionId, long seq);
    }
}
