using System.Text.Json;

namespace Portal.Sessions;

/// <summary>
/// An event to append to a session's log. <see cref="Payload"/> is JSON text; <see cref="Size"/> is the bytes on
/// the wire and defaults to the UTF-8 length of the payload.
/// </summary>
public sealed record NewSessionEvent(string Direction, string Type, string Actor, string Payload, int? Size = null)
{
    /// <summary>An event whose payload is <paramref name="payload"/> serialised as JSON.</summary>
    public static NewSessionEvent FromObject<T>(string direction, string type, string actor, T payload, int? size = null) =>
        new(direction, type, actor, JsonSerializer.Serialize(payload, SessionJson.Options), size);
}

/// <summary>An event of a session's log: immutable once appended.</summary>
public sealed record SessionEvent(
    string SessionId,
    long Seq,
    DateTimeOffset Time,
    string Direction,
    string Type,
    string Actor,
    string Payload,
    int Size);

/// <summary>What a new session starts with.</summary>
public sealed record NewSession(string Kind, string? OwnerId, string? Title = null, string? Agent = null, string? Id = null,
    string Status = SessionStatuses.Active);

/// <summary>A session as listed and shown.</summary>
public sealed record SessionInfo(
    string Id,
    string Kind,
    string? OwnerId,
    string? Title,
    string? Agent,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastActivityAt,
    string Status,
    long EventCount,
    string? OwnerName = null);

/// <summary>Thrown when a session id names no session (or one the caller may not see).</summary>
public sealed class SessionNotFoundException(string sessionId)
    : Exception($"Session '{sessionId}' does not exist.")
{
    public string SessionId { get; } = sessionId;
}

internal static class SessionJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    /// <summary>Session ids are 32 lowercase hex digits (a UUID without dashes), as in the seed's session logs.</summary>
    public static string NewId() => Guid.NewGuid().ToString("N");

    public static bool IsValidId(string? id) =>
        id is { Length: > 0 and <= 64 } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
