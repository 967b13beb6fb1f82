namespace Portal.Sessions;

/// <summary>Which sessions to list, in which order. Null filters match everything.</summary>
public sealed record SessionQuery
{
    public int Page { get; init; } = 1;
    public int PageSize { get; init; } = 50;
    public string? Kind { get; init; }
    public string? Status { get; init; }
    public string? OwnerId { get; init; }
    /// <summary>Text contained in the owner's e-mail address (case-insensitive); sessions without an owner never match.</summary>
    public string? OwnerEmail { get; init; }
    public string? Agent { get; init; }
    /// <summary>Sessions active at or after this time.</summary>
    public DateTimeOffset? From { get; init; }
    /// <summary>Sessions created before this time.</summary>
    public DateTimeOffset? To { get; init; }
    /// <summary>Text contained in the title.</summary>
    public string? TitleContains { get; init; }
    /// <summary>
    /// Words that occur in the title or in the text of the session's messages (full-text search: whole words, any
    /// order; a word ending in <c>*</c> matches as a prefix).
    /// </summary>
    public string? Text { get; init; }
    public SessionSort Sort { get; init; } = SessionSort.LastActivity;
    public bool Descending { get; init; } = true;
}

/// <summary>The orders a session list can have; anything else is refused, so no column name reaches SQL from outside.</summary>
public enum SessionSort
{
    LastActivity,
    Created,
    Title,
    Kind,
    Status,
    EventCount,
    Owner,
}

public sealed record SessionPage(IReadOnlyList<SessionInfo> Items, int Page, int PageSize, int Total);

/// <summary>How many events of one type and direction a session has, and their bytes on the wire.</summary>
public sealed record EventTally(string Type, string Direction, long Count, long Bytes);

/// <summary>The names sort orders have in URLs and in the admin grid's columns.</summary>
public static class SessionSorts
{
    private static readonly Dictionary<string, SessionSort> ByName = new(StringComparer.OrdinalIgnoreCase)
    {
        ["lastActivity"] = SessionSort.LastActivity,
        ["created"] = SessionSort.Created,
        ["title"] = SessionSort.Title,
        ["kind"] = SessionSort.Kind,
        ["status"] = SessionSort.Status,
        ["events"] = SessionSort.EventCount,
        ["owner"] = SessionSort.Owner,
        // The grid names columns by the property of SessionInfo they show.
        [nameof(SessionInfo.LastActivityAt)] = SessionSort.LastActivity,
        [nameof(SessionInfo.CreatedAt)] = SessionSort.Created,
        [nameof(SessionInfo.EventCount)] = SessionSort.EventCount,
        [nameof(SessionInfo.OwnerName)] = SessionSort.Owner,
    };

    public static bool TryParse(string? name, out SessionSort sort)
    {
        sort = SessionSort.LastActivity;
        return name is not null && ByName.TryGetValue(name, out sort);
    }

    /// <summary>The short name used in URLs.</summary>
    public static string Name(SessionSort sort) => sort switch
    {
        SessionSort.Created => "created",
        SessionSort.Title => "title",
        SessionSort.Kind => "kind",
        SessionSort.Status => "status",
        SessionSort.EventCount => "events",
        SessionSort.Owner => "owner",
        _ => "lastActivity",
    };

    /// <summary>The property of <see cref="SessionInfo"/> a grid column sorted this way shows.</summary>
    public static string Property(SessionSort sort) => sort switch
    {
        SessionSort.Created => nameof(SessionInfo.CreatedAt),
        SessionSort.Title => nameof(SessionInfo.Title),
        SessionSort.Kind => nameof(SessionInfo.Kind),
        SessionSort.Status => nameof(SessionInfo.Status),
        SessionSort.EventCount => nameof(SessionInfo.EventCount),
        SessionSort.Owner => nameof(SessionInfo.OwnerName),
        _ => nameof(SessionInfo.LastActivityAt),
    };
}
