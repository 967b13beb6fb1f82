using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Endpoints.Hub;

/// <summary>The callbacks clients of <c>/hubs/session</c> register (<c>connection.on(...)</c>).</summary>
public static class HubCallbacks
{
    /// <summary>An event of the joined session, with its seq: <see cref="HubMessage"/>.</summary>
    public const string Message = "message";

    /// <summary>Something this connection sent was refused, or its session went away: <see cref="HubError"/>.</summary>
    public const string Error = "error";
}

/// <summary>The log types of a hub session besides the participants' own events (which keep the type they were sent with).</summary>
public static class HubEventTypes
{
    /// <summary>A connection of a participant joined the session (delivered to everyone in it).</summary>
    public const string ParticipantJoined = "participant_joined";

    /// <summary>A connection of a participant left the session: Leave, another JoinSession, or the connection closed (delivered).</summary>
    public const string ParticipantLeft = "participant_left";

    /// <summary>An event Send refused, with the reason and the beginning of what was sent (recorded, not delivered).</summary>
    public const string EventRejected = "event_rejected";
}

/// <summary>The <c>code</c> of an <c>error</c> callback; the same code starts the message of a failed invocation.</summary>
public static class HubErrorCodes
{
    public const string InvalidRequest = "invalid_request";
    public const string SessionNotFound = "session_not_found";
    public const string NotJoined = "not_joined";
    public const string InvalidEvent = "invalid_event";
    public const string ReservedType = "reserved_type";
    public const string UnknownType = "unknown_type";
    public const string EventTooLarge = "event_too_large";
    public const string RateLimited = "rate_limited";
    public const string TooManyMessages = "too_many_messages";
    public const string TooManySessions = "too_many_sessions";
    public const string SessionDeleted = "session_deleted";
    public const string InternalError = "internal_error";
}

/// <summary>
/// What a <c>message</c> callback carries: an event of the session and where it sits in the log. <see cref="Event"/> is
/// the event as stored, <c>{id, type, source: {id, name}, timestamp, data?, to?}</c>.
/// </summary>
public sealed record HubMessage(string SessionId, long Seq, DateTimeOffset Time, JsonElement Event);

/// <summary>What an <c>error</c> callback carries.</summary>
public sealed record HubError(
    string Code,
    string Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Method = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? SessionId = null);

/// <summary>
/// The result of <c>JoinSession</c>: the session, who the caller is in it, and the position delivery starts from:
/// every event with a seq above <see cref="AfterSeq"/> arrives as a <c>message</c>, history first, then live.
/// <see cref="LastSeq"/> is the seq of this connection's own <c>participant_joined</c> event.
/// </summary>
public sealed record JoinResult(string SessionId, string ParticipantId, bool Created, long AfterSeq, long LastSeq);

/// <summary>The result of <c>Send</c>: the seq the event was stored under, and its id (the client's, or one Portal gave it).</summary>
public sealed record SendResult(string SessionId, long Seq, string Id, DateTimeOffset Time);

/// <summary>The result of <c>Leave</c>: the session left and the seq of the <c>participant_left</c> event.</summary>
public sealed record LeaveResult(string SessionId, long Seq);
