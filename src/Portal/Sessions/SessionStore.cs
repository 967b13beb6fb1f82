using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Portal.Sessions.Search;
using Portal.Sessions.Storage;

namespace Portal.Sessions;

/// <summary>Reads sessions for lists and detail views.</summary>
public interface ISessionStore
{
    /// <summary>One page of the sessions <paramref name="query"/> selects, in its order, and how many it selects in all.</summary>
    Task<SessionPage> ListAsync(SessionQuery query, CancellationToken cancellationToken);

    Task<SessionInfo?> GetAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>The stored event of one of <paramref name="types"/> with the highest seq, if any.</summary>
    Task<SessionEvent?> FindLastEventAsync(string sessionId, IReadOnlyCollection<string> types, CancellationToken cancellationToken);

    /// <summary>
    /// Up to <paramref name="limit"/> stored events with a seq below <paramref name="beforeSeq"/>, newest first, only of
    /// <paramref name="type"/> when it is given. Pages backwards through a log of any length at the cost of one page.
    /// </summary>
    Task<IReadOnlyList<SessionEvent>> ReadBackwardAsync(string sessionId, long beforeSeq, int limit, string? type, CancellationToken cancellationToken);

    /// <summary>
    /// How many stored events up to <paramref name="upToSeq"/> the session has of each type and direction, and their
    /// bytes: one pass over the log in SQLite, nothing of it read into memory.
    /// </summary>
    Task<IReadOnlyList<EventTally>> TallyAsync(string sessionId, long upToSeq, CancellationToken cancellationToken);

    /// <summary>The stored events of <paramref name="types"/> up to <paramref name="upToSeq"/>, in order, streamed.</summary>
    IAsyncEnumerable<SessionEvent> ReadOfTypesAsync(string sessionId, IReadOnlyCollection<string> types, long upToSeq, CancellationToken cancellationToken);
}

internal sealed class SessionStore(IDbContextFactory<PortalDbContext> dbFactory) : ISessionStore
{
    public async Task<SessionPage> ListAsync(SessionQuery query, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Page, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.PageSize, 1);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var sessions = Filter(db, query);
        var total = await sessions.CountAsync(cancellationToken);
        if (total <= (query.Page - 1) * query.PageSize)
        {
            return new SessionPage([], query.Page, query.PageSize, total);
        }
        // The page's keys first, sorted on narrow rows (joined to the owners only to sort by owner), then the page's
        // rows with their owners' names: a filter matching tens of thousands of sessions sorts keys, not whole rows.
        var sortable = query.Sort == SessionSort.Owner
            ? WithOwnerNames(db, sessions)
            : sessions.Select(s => new OwnedRow { Session = s, OwnerName = null });
        var keys = await Order(sortable, query.Sort, query.Descending)
            .Skip((query.Page - 1) * query.PageSize)
            .Take(query.PageSize)
            .Select(r => r.Session.Key)
            .ToListAsync(cancellationToken);
        var rows = await WithOwnerNames(db, db.Sessions.AsNoTracking().Where(s => keys.Contains(s.Key))).ToListAsync(cancellationToken);
        var byKey = rows.ToDictionary(r => r.Session.Key);
        return new SessionPage(keys.Where(byKey.ContainsKey).Select(k => ToInfo(byKey[k].Session, byKey[k].OwnerName)).ToList(),
            query.Page, query.PageSize, total);
    }

    public async Task<SessionInfo?> GetAsync(string sessionId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await WithOwnerNames(db, db.Sessions.AsNoTracking().Where(s => s.Id == sessionId)).SingleOrDefaultAsync(cancellationToken);
        return row is null ? null : ToInfo(row.Session, row.OwnerName);
    }

    public async Task<SessionEvent?> FindLastEventAsync(string sessionId, IReadOnlyCollection<string> types, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var key = await KeyOfAsync(db, sessionId, cancellationToken);
        if (key is null)
        {
            return null;
        }
        // Walks the session's (SessionKey, Seq) index backwards from its newest event.
        return await db.SessionEvents.AsNoTracking()
            .Where(e => e.SessionKey == key && types.Contains(e.Type))
            .OrderByDescending(e => e.Seq)
            .Select(e => new SessionEvent(sessionId, e.Seq, e.Time, e.Direction, e.Type, e.Actor, e.Payload, e.Size))
            .FirstOrDefaultAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<SessionEvent>> ReadBackwardAsync(string sessionId, long beforeSeq, int limit, string? type, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var key = await KeyOfAsync(db, sessionId, cancellationToken);
        if (key is null)
        {
            return [];
        }
        var events = db.SessionEvents.AsNoTracking().Where(e => e.SessionKey == key && e.Seq < beforeSeq);
        if (type is not null)
        {
            events = events.Where(e => e.Type == type);
        }
        return await events
            .OrderByDescending(e => e.Seq)
            .Take(limit)
            .Select(e => new SessionEvent(sessionId, e.Seq, e.Time, e.Direction, e.Type, e.Actor, e.Payload, e.Size))
            .ToListAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<EventTally>> TallyAsync(string sessionId, long upToSeq, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var key = await KeyOfAsync(db, sessionId, cancellationToken);
        if (key is null)
        {
            return [];
        }
        return await db.SessionEvents
            .Where(e => e.SessionKey == key && e.Seq <= upToSeq)
            .GroupBy(e => new { e.Type, e.Direction })
            .Select(g => new EventTally(g.Key.Type, g.Key.Direction, g.LongCount(), g.Sum(e => (long)e.Size)))
            .ToListAsync(cancellationToken);
    }

    public async IAsyncEnumerable<SessionEvent> ReadOfTypesAsync(
        string sessionId, IReadOnlyCollection<string> types, long upToSeq, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var key = await KeyOfAsync(db, sessionId, cancellationToken);
        if (key is null)
        {
            yield break;
        }
        var events = db.SessionEvents.AsNoTracking()
            .Where(e => e.SessionKey == key && e.Seq <= upToSeq && types.Contains(e.Type))
            .OrderBy(e => e.Seq)
            .Select(e => new SessionEvent(sessionId, e.Seq, e.Time, e.Direction, e.Type, e.Actor, e.Payload, e.Size))
            .AsAsyncEnumerable();
        await foreach (var e in events.WithCancellation(cancellationToken))
        {
            yield return e;
        }
    }

    internal static SessionInfo ToInfo(SessionRow row, string? ownerName = null) =>
        new(row.Id, row.Kind, row.OwnerId, row.Title, row.Agent, row.CreatedAt, row.LastActivityAt, row.Status, row.EventCount, ownerName);

    private static Task<long?> KeyOfAsync(PortalDbContext db, string sessionId, CancellationToken cancellationToken) =>
        db.Sessions.Where(s => s.Id == sessionId).Select(s => (long?)s.Key).SingleOrDefaultAsync(cancellationToken);

    private static IQueryable<SessionRow> Filter(PortalDbContext db, SessionQuery query)
    {
        var sessions = db.Sessions.AsNoTracking();
        if (query.Kind is not null)
        {
            sessions = sessions.Where(s => s.Kind == query.Kind);
        }
        if (query.Status is not null)
        {
            sessions = sessions.Where(s => s.Status == query.Status);
        }
        if (query.OwnerId is not null)
        {
            sessions = sessions.Where(s => s.OwnerId == query.OwnerId);
        }
        if (!string.IsNullOrWhiteSpace(query.OwnerEmail))
        {
            // Identity keeps e-mails upper-cased in NormalizedEmail; the users table is small next to the sessions.
            var email = query.OwnerEmail.Trim().ToUpperInvariant();
            var owners = db.Users.Where(u => u.NormalizedEmail != null && u.NormalizedEmail.Contains(email)).Select(u => u.Id);
            sessions = sessions.Where(s => s.OwnerId != null && owners.Contains(s.OwnerId));
        }
        if (query.Agent is not null)
        {
            sessions = sessions.Where(s => s.Agent == query.Agent);
        }
        if (query.From is { } from)
        {
            sessions = sessions.Where(s => s.LastActivityAt >= from);
        }
        if (query.To is { } to)
        {
            sessions = sessions.Where(s => s.CreatedAt < to);
        }
        if (!string.IsNullOrWhiteSpace(query.TitleContains))
        {
            var text = query.TitleContains.Trim();
            sessions = sessions.Where(s => s.Title != null && EF.Functions.Like(s.Title, "%" + EscapeLike(text) + "%", "\\"));
        }
        if (!string.IsNullOrWhiteSpace(query.Text))
        {
            if (SessionSearch.ToMatchQuery(query.Text) is { } match)
            {
                var hits = db.Database.SqlQuery<long>($"SELECT rowid >> 32 AS \"Value\" FROM \"SessionSearch\" WHERE \"SessionSearch\" MATCH {match}");
                sessions = sessions.Where(s => hits.Contains(s.Key));
            }
            else
            {
                sessions = sessions.Where(s => false); // only punctuation: nothing can match, rather than everything
            }
        }
        return sessions;
    }

    /// <summary>The key breaks ties, so paging through rows with equal sort values never skips or repeats one.</summary>
    private static IQueryable<OwnedRow> Order(IQueryable<OwnedRow> rows, SessionSort sort, bool descending) => (sort, descending) switch
    {
        (SessionSort.Created, false) => rows.OrderBy(r => r.Session.CreatedAt).ThenBy(r => r.Session.Key),
        (SessionSort.Created, true) => rows.OrderByDescending(r => r.Session.CreatedAt).ThenByDescending(r => r.Session.Key),
        (SessionSort.Title, false) => rows.OrderBy(r => r.Session.Title).ThenBy(r => r.Session.Key),
        (SessionSort.Title, true) => rows.OrderByDescending(r => r.Session.Title).ThenByDescending(r => r.Session.Key),
        (SessionSort.Kind, false) => rows.OrderBy(r => r.Session.Kind).ThenBy(r => r.Session.LastActivityAt).ThenBy(r => r.Session.Key),
        (SessionSort.Kind, true) => rows.OrderByDescending(r => r.Session.Kind).ThenByDescending(r => r.Session.LastActivityAt).ThenByDescending(r => r.Session.Key),
        (SessionSort.Status, false) => rows.OrderBy(r => r.Session.Status).ThenBy(r => r.Session.LastActivityAt).ThenBy(r => r.Session.Key),
        (SessionSort.Status, true) => rows.OrderByDescending(r => r.Session.Status).ThenByDescending(r => r.Session.LastActivityAt).ThenByDescending(r => r.Session.Key),
        (SessionSort.EventCount, false) => rows.OrderBy(r => r.Session.EventCount).ThenBy(r => r.Session.Key),
        (SessionSort.EventCount, true) => rows.OrderByDescending(r => r.Session.EventCount).ThenByDescending(r => r.Session.Key),
        (SessionSort.Owner, false) => rows.OrderBy(r => r.OwnerName).ThenBy(r => r.Session.LastActivityAt).ThenBy(r => r.Session.Key),
        (SessionSort.Owner, true) => rows.OrderByDescending(r => r.OwnerName).ThenByDescending(r => r.Session.LastActivityAt).ThenByDescending(r => r.Session.Key),
        (_, false) => rows.OrderBy(r => r.Session.LastActivityAt).ThenBy(r => r.Session.Key),
        _ => rows.OrderByDescending(r => r.Session.LastActivityAt).ThenByDescending(r => r.Session.Key),
    };

    private static IQueryable<OwnedRow> WithOwnerNames(PortalDbContext db, IQueryable<SessionRow> sessions) =>
        from s in sessions
        join u in db.Users on s.OwnerId equals u.Id into owners
        from u in owners.DefaultIfEmpty()
        select new OwnedRow { Session = s, OwnerName = u == null ? null : u.UserName };

    private sealed class OwnedRow
    {
        public required SessionRow Session { get; init; }
        public string? OwnerName { get; init; }
    }

    private static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal)
            .Replace("%", "\\%", StringComparison.Ordinal)
            .Replace("_", "\\_", StringComparison.Ordinal);
}
