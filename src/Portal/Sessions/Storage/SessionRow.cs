namespace Portal.Sessions.Storage;

/// <summary>A session as stored. <see cref="Key"/> is the compact row key events point at; <see cref="Id"/> is public.</summary>
public sealed class SessionRow
{
    public long Key { get; set; }
    public required string Id { get; set; }
    public required string Kind { get; set; }
    public string? OwnerId { get; set; }
    public string? Title { get; set; }
    /// <summary>The agent (or upstream) the session talks to, for filtering.</summary>
    public string? Agent { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastActivityAt { get; set; }
    public required string Status { get; set; }
    public long EventCount { get; set; }
}

/// <summary>One event of a session's log as stored; (SessionKey, Seq) is its key and the table's order.</summary>
public sealed class SessionEventRow
{
    public long SessionKey { get; set; }
    public long Seq { get; set; }
    public DateTimeOffset Time { get; set; }
    public required string Direction { get; set; }
    public required string Type { get; set; }
    public required string Actor { get; set; }
    public required string Payload { get; set; }
    public int Size { get; set; }
}
