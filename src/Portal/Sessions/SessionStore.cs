using Microsoft.EntityFrameworkCore;
using Portal.Sessions.Storage;

namespace Portal.Sessions;

/// <summary>Which sessions to list. Null filters match everything.</summary>
public sealed record SessionQuery
{
    public int Page { get; init; } = 1;
    public int PageSize { get; init; } = 50;
    public string? Kind { get; init; }
    public string? Status { get; init; }
    public string? OwnerId { get; init; }
    public string? Agent { get; init; }
    /// <summary>Sessions active at or after this time.</summary>
    public DateTimeOffset? From { get; init; }
    /// <summary>Sessions created before this time.</summary>
    public DateTimeOffset? To { get; init; }
    /// <summary>Text contained in the title.</summary>
    public string? TitleContains { get; init; }
}

public sealed record SessionPage(IReadOnlyList<SessionInfo> Items, int Page, int PageSize, int Total);

/// <summary>Reads sessions for lists and detail views (newest activity first).</summary>
public interface ISessionStore
{
    Task<SessionPage> ListAsync(SessionQuery query, CancellationToken cancellationToken);

    Task<SessionInfo?> GetAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>The stored event of one of <paramref name="types"/> with the highest seq, if any.</summary>
    Task<SessionEvent?> FindLastEventAsync(string sessionId, IReadOnlyCollection<string> types, CancellationToken cancellationToken);
}

internal sealed class SessionStore(IDbContextFactory<PortalDbContext> dbFactory) : ISessionStore
{
    public async Task<SessionPage> ListAsync(SessionQuery query, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
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
        var total = await sessions.CountAsync(cancellationToken);
        var page = sessions
            .OrderByDescending(s => s.LastActivityAt).ThenByDescending(s => s.Key)
            .Skip((query.Page - 1) * query.PageSize)
            .Take(query.PageSize);
        var rows = await WithOwnerNames(db, page).ToListAsync(cancellationToken);
        return new SessionPage(rows.ConvertAll(r => ToInfo(r.Session, r.OwnerName)), query.Page, query.PageSize, total);
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
        var key = await db.Sessions.Where(s => s.Id == sessionId).Select(s => (long?)s.Key).SingleOrDefaultAsync(cancellationToken);
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

    internal static SessionInfo ToInfo(SessionRow row, string? ownerName = null) =>
        new(row.Id, row.Kind, row.OwnerId, row.Title, row.Agent, row.CreatedAt, row.LastActivityAt, row.Status, row.EventCount, ownerName);

    private static IQueryable<OwnedRow> WithOwnerNames(PortalDbContext db, IQueryable<SessionRow> sessions) =>
        from s in sessions
        join u in db.Users on s.OwnerId equals u.Id into owners
        from u in owners.DefaultIfEmpty()
        select new OwnedRow(s, u == null ? null : u.UserName);

    private sealed record OwnedRow(SessionRow Session, string? OwnerName);

    private static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal)
            .Replace("%", "\\%", StringComparison.Ordinal)
            .Replace("_", "\\_", StringComparison.Ordinal);
}
