using System.Buffers;
using System.Collections.Frozen;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Portal.Agents.Runtime;
using Portal.Endpoints.ChatSocket;
using Portal.Sessions;

namespace Portal.Endpoints.Hub;

/// <summary>What <c>JoinSession</c> asked for: a new session (no id), or one to join, delivering from after a seq.</summary>
internal readonly record struct JoinRequest(string? SessionId, long? AfterSeq, string? Title);

/// <summary>An event Send accepted: its id and type, and the payload to store (<c>{id, type, source, timestamp, data?, to?}</c>).</summary>
internal sealed record AcceptedEvent(string Id, string Type, string Payload, int Bytes);

/// <summary>Why a request or an event was refused: an <see cref="HubErrorCodes"/> code and a sentence saying what to change.</summary>
internal readonly record struct Refusal(string Code, string Message);

/// <summary>What an event may be: how big as stored, and which types (null: any type that is not Portal's own).</summary>
internal sealed record EventLimits(int MaxBytes, string MaxBytesSetting, FrozenSet<string>? Types);

/// <summary>
/// Reads and checks what clients pass to the hub's methods. Arguments arrive as raw JSON (<see cref="JsonElement"/>),
/// so a wrong shape gets an error naming the field instead of SignalR's generic binding failure.
/// </summary>
internal static class HubEventReader
{
    /// <summary>The log's type column holds 64 characters.</summary>
    public const int MaxTypeLength = 64;
    public const int MaxIdLength = 128;
    public const int MaxRecipients = 32;
    public const int MaxTitleLength = 200;
    private const int MaxParticipantIdLength = 128;

    /// <summary>
    /// Types Portal writes itself and other parts read (approvals, answers, proxy frames, the hub's own presence):
    /// a participant event under one of these names would be taken for the real thing.
    /// </summary>
    private static readonly FrozenSet<string> Reserved = new[] { typeof(EventTypes), typeof(AgentEventTypes), typeof(ChatFrameTypes), typeof(HubEventTypes) }
        .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.Static))
        .Where(f => f.IsLiteral && f.FieldType == typeof(string))
        .Select(f => (string)f.GetRawConstantValue()!)
        // The CES recorder's own types (Endpoints/Ces/CesSessionRecorder.cs); the admin digest reads proxy_stats.
        .Concat(["config", "upstream", "upstream_connected", "upstream_first_byte", "proxy_stats", "text_request", "text_response"])
        .ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private static readonly string[] EventFields = ["id", "type", "data", "to", "source", "timestamp"];

    private const string NotUnicode = "The text contains an escape that is not Unicode (an unpaired surrogate such as \\ud800); it could not be stored or sent on.";

    public static bool IsWellFormedType(string? type) =>
        type is { Length: > 0 and <= MaxTypeLength }
        && char.IsAsciiLetterOrDigit(type[0])
        && type.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':' or '/');

    public static bool IsReserved(string type) => Reserved.Contains(type);

    /// <summary>
    /// <c>JoinSession</c>'s one argument: <c>null</c> (a new session), a session id, or
    /// <c>{sessionId?, afterSeq?, title?}</c>.
    /// </summary>
    public static Refusal? ReadJoin(JsonElement request, out JoinRequest join)
    {
        join = default;
        if (!IsValidText(request))
        {
            return Invalid(NotUnicode);
        }
        switch (request.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                var id = request.GetString()!;
                if (id.Length == 0)
                {
                    return Invalid("The session id is empty. Pass null for a new session, or the id of one of yours.");
                }
                join = new JoinRequest(id, null, null);
                return null;
            case JsonValueKind.Object:
                break;
            default:
                return Invalid($"JoinSession takes null (a new session), a session id, or {{sessionId, afterSeq, title}}; it got {KindOf(request)}.");
        }
        string? sessionId = null;
        long? afterSeq = null;
        string? title = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in request.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                return Invalid($"The field '{Shorten(property.Name, 64)}' appears twice.");
            }
            var value = property.Value;
            switch (property.Name)
            {
                case "sessionId":
                    if (value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null) || value.ValueKind == JsonValueKind.String && value.GetString()!.Length == 0)
                    {
                        return Invalid($"sessionId must be a session id (a non-empty string) or null; it is {KindOf(value)}.");
                    }
                    sessionId = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
                    break;
                case "afterSeq":
                    if (value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }
                    if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var after) || after < 0)
                    {
                        return Invalid($"afterSeq must be a whole number, 0 or more; it is {KindOf(value)}.");
                    }
                    afterSeq = after;
                    break;
                case "title":
                    if (value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null) || value.ValueKind == JsonValueKind.String && value.GetString()!.Length > MaxTitleLength)
                    {
                        return Invalid($"title must be text of at most {MaxTitleLength} characters, or null; it is {KindOf(value)}.");
                    }
                    title = value.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(value.GetString()) ? value.GetString()!.Trim() : null;
                    break;
                default:
                    return Invalid($"Unknown field '{Shorten(property.Name, 64)}'. JoinSession takes {{sessionId, afterSeq, title}}.");
            }
        }
        if (sessionId is null && afterSeq is not null)
        {
            return Invalid("afterSeq needs a sessionId: a new session has nothing to replay.");
        }
        join = new JoinRequest(sessionId, afterSeq, title);
        return null;

        static Refusal Invalid(string message) => new(HubErrorCodes.InvalidRequest, message);
    }

    /// <summary>
    /// <c>Send</c>'s one argument, an event shaped like seed 003's: <c>{type, data?, id?, to?}</c>. <c>source</c> and
    /// <c>timestamp</c> are accepted for seed clients and replaced: the source is the signed-in participant, never what
    /// the client claims.
    /// </summary>
    public static Refusal? ReadEvent(JsonElement input, string participantId, string? participantName, DateTimeOffset now, EventLimits limits, out AcceptedEvent? accepted)
    {
        accepted = null;
        if (!IsValidText(input))
        {
            return Invalid(NotUnicode);
        }
        if (input.ValueKind != JsonValueKind.Object)
        {
            return Invalid($"An event is a JSON object {{type, data, id, to}}; this is {KindOf(input)}.");
        }
        JsonElement type = default, data = default, id = default, to = default;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in input.EnumerateObject())
        {
            if (!EventFields.Contains(property.Name))
            {
                return Invalid($"Unknown field '{Shorten(property.Name, 64)}' in the event. An event has type, data, id and to (source and timestamp are accepted and set by Portal).");
            }
            if (!seen.Add(property.Name))
            {
                return Invalid($"The field '{property.Name}' appears twice in the event.");
            }
            switch (property.Name)
            {
                case "type": type = property.Value; break;
                case "data": data = property.Value; break;
                case "id": id = property.Value; break;
                case "to": to = property.Value; break;
            }
        }

        if (type.ValueKind == JsonValueKind.Undefined)
        {
            return Invalid("The event has no type. Give it one, such as \"type\": \"user.action\".");
        }
        if (type.ValueKind != JsonValueKind.String)
        {
            return Invalid($"The event's type must be a string; it is {KindOf(type)}.");
        }
        var typeName = type.GetString()!;
        if (!IsWellFormedType(typeName))
        {
            return Invalid($"The event type '{Shorten(typeName, 64)}' is not valid: 1 to {MaxTypeLength} letters, digits and . _ - : /, starting with a letter or digit.");
        }
        if (IsReserved(typeName))
        {
            return new Refusal(HubErrorCodes.ReservedType, $"'{typeName}' is one of Portal's own event types; participants cannot send it. Use a name of your own, such as 'app.{typeName}'.");
        }
        if (limits.Types is { } types && !types.Contains(typeName))
        {
            return new Refusal(HubErrorCodes.UnknownType, $"Unknown event type '{typeName}'. This Portal accepts {string.Join(", ", types.Order(StringComparer.Ordinal))}.");
        }

        if (data.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object))
        {
            return Invalid($"The event's data must be a JSON object; it is {KindOf(data)}.");
        }

        string eventId;
        switch (id.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                eventId = "evt_" + Guid.NewGuid().ToString("N");
                break;
            case JsonValueKind.String when id.GetString() is { Length: > 0 and <= MaxIdLength } text:
                eventId = text;
                break;
            default:
                return Invalid($"The event's id must be a string of 1 to {MaxIdLength} characters; it is {KindOf(id)}.");
        }

        List<string>? recipients = null;
        if (to.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
        {
            if (ReadRecipients(to, out recipients) is { } problem)
            {
                return Invalid(problem);
            }
        }

        var buffer = new ArrayBufferWriter<byte>(256 + (data.ValueKind == JsonValueKind.Object ? data.GetRawText().Length : 0));
        using (var json = new Utf8JsonWriter(buffer))
        {
            WriteHead(json, eventId, typeName, participantId, participantName, now);
            if (data.ValueKind == JsonValueKind.Object)
            {
                json.WritePropertyName("data");
                data.WriteTo(json);
            }
            if (recipients is not null)
            {
                json.WriteStartArray("to");
                foreach (var recipient in recipients)
                {
                    json.WriteStringValue(recipient);
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        if (buffer.WrittenCount > limits.MaxBytes)
        {
            return new Refusal(HubErrorCodes.EventTooLarge,
                $"The event is {buffer.WrittenCount} bytes as stored; at most {limits.MaxBytes} are accepted ({limits.MaxBytesSetting}). Send less data, or split it into several events.");
        }
        accepted = new AcceptedEvent(eventId, typeName, Encoding.UTF8.GetString(buffer.WrittenSpan), buffer.WrittenCount);
        return null;

        static Refusal Invalid(string message) => new(HubErrorCodes.InvalidEvent, message);
    }

    /// <summary>
    /// An event written by Portal in the shape participants' events have, so every <c>message</c> reads the same:
    /// <c>{id, type, source: {id, name}, timestamp, data}</c>.
    /// </summary>
    public static string SystemEvent(string type, string participantId, string? participantName, DateTimeOffset now, object data)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            WriteHead(json, "evt_" + Guid.NewGuid().ToString("N"), type, participantId, participantName, now);
            json.WritePropertyName("data");
            JsonSerializer.Serialize(json, data, SessionJson.Options);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Opens an event and writes what every event has first: <c>id</c>, <c>type</c>, <c>source</c>, <c>timestamp</c>.</summary>
    private static void WriteHead(Utf8JsonWriter json, string id, string type, string participantId, string? participantName, DateTimeOffset now)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("type", type);
        json.WriteStartObject("source");
        json.WriteString("id", participantId);
        if (participantName is not null)
        {
            json.WriteString("name", participantName);
        }
        json.WriteEndObject();
        json.WriteString("timestamp", Timestamp(now));
    }

    /// <summary>"a string", "a number", "an array", ... for error messages.</summary>
    public static string KindOf(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Undefined => "missing",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => value.GetString()!.Length == 0 ? "an empty string" : $"a string of {value.GetString()!.Length} characters",
        JsonValueKind.Number => $"the number {Shorten(value.GetRawText(), 32)}",
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        _ => "null",
    };

    public static string Shorten(string text, int max) => text.Length <= max ? text : text[..max] + "\u2026";

    private static string? ReadRecipients(JsonElement to, out List<string>? recipients)
    {
        recipients = null;
        const string Shape = "a list of participant ids (strings, or objects with a participantId)";
        if (to.ValueKind != JsonValueKind.Array)
        {
            return $"The event's to must be {Shape}; it is {KindOf(to)}.";
        }
        var count = to.GetArrayLength();
        if (count is 0 or > MaxRecipients)
        {
            return $"The event's to must name 1 to {MaxRecipients} participants; it names {count}. Leave it out to send to everyone in the session.";
        }
        var list = new List<string>(count);
        var index = 0;
        foreach (var entry in to.EnumerateArray())
        {
            var participant = entry.ValueKind switch
            {
                JsonValueKind.String => entry,
                JsonValueKind.Object when entry.TryGetProperty("participantId", out var p) => p,
                _ => default,
            };
            if (participant.ValueKind != JsonValueKind.String || participant.GetString() is not { Length: > 0 and <= MaxParticipantIdLength } participantId)
            {
                return $"to[{index}] must be a participant id (a string of 1 to {MaxParticipantIdLength} characters, or {{\"participantId\": \"...\"}}); it is {KindOf(entry)}.";
            }
            if (!list.Contains(participantId, StringComparer.Ordinal))
            {
                list.Add(participantId);
            }
            index++;
        }
        recipients = list;
        return null;
    }

    /// <summary>
    /// False when a string or property name holds an escaped unpaired surrogate: valid JSON syntax, but no text, and
    /// reading it throws. Checked once up front so nothing later trips over it.
    /// </summary>
    private static bool IsValidText(JsonElement element)
    {
        try
        {
            Walk(element);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }

        static void Walk(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    _ = element.GetString();
                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        Walk(item);
                    }
                    break;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        _ = property.Name;
                        Walk(property.Value);
                    }
                    break;
            }
        }
    }

    private static string Timestamp(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
