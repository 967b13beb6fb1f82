using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text.Json;

namespace Portal.Sessions.Export;

/// <summary>
/// Writes a session's log as JSONL in the seed's session-log format (seed 001):
/// <c>{"timestamp","event_type","direction","message_data"}</c>, one line per event.
/// Lifecycle events become <c>{"event":"session_started"|"session_ended"}</c>; every other event becomes the
/// frame <c>{"id","type","payload"}</c>. Events that crossed no wire are exported with event_type and
/// direction <c>internal</c>.
/// </summary>
internal static class SessionLogExporter
{
    private const int PageSize = 1_000;
    private static readonly TimeSpan SettleWait = TimeSpan.FromSeconds(5);

    public static async Task WriteAsync(ISessionBus bus, string sessionId, PipeWriter output, CancellationToken cancellationToken)
    {
        await using var json = new Utf8JsonWriter(output);
        // The export ends at the durable seq: its frame ids are never handed out again, whatever happens next.
        var upTo = await bus.SettleAsync(sessionId, SettleWait, cancellationToken);
        long after = 0;
        while (after < upTo)
        {
            var page = await bus.ReadAsync(sessionId, after, PageSize, cancellationToken);
            foreach (var e in page.Where(e => e.Seq <= upTo))
            {
                WriteLine(json, e);
                json.Flush();
                output.Write("\n"u8);
                json.Reset();
                after = e.Seq;
            }
            // One flush per page streams large exports without holding them in memory.
            await output.FlushAsync(cancellationToken);
            if (page.Count < PageSize)
            {
                break;
            }
        }
    }

    internal static void WriteLine(Utf8JsonWriter json, SessionEvent e)
    {
        var (eventType, direction) = e.Direction switch
        {
            EventDirections.In => ("websocket_message_received", "incoming"),
            EventDirections.Out => ("websocket_message_sent", "outgoing"),
            _ when e.Type is EventTypes.SessionStarted or EventTypes.SessionEnded => ("websocket_message_received", "incoming"),
            _ => ("internal", "internal"),
        };
        json.WriteStartObject();
        json.WriteString("timestamp", e.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        json.WriteString("event_type", eventType);
        json.WriteString("direction", direction);
        json.WritePropertyName("message_data");
        json.WriteStartObject();
        if (e.Type is EventTypes.SessionStarted or EventTypes.SessionEnded)
        {
            json.WriteString("event", e.Type);
        }
        else
        {
            json.WriteString("id", FrameId(e.SessionId, e.Seq));
            json.WriteString("type", e.Type);
            json.WritePropertyName("payload");
            WritePayload(json, e.Payload);
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>The id of the frame that carried an event: stable, so an export matches what was sent.</summary>
    public static string FrameId(string sessionId, long seq) => string.Create(CultureInfo.InvariantCulture, $"{sessionId}-{seq}");

    private static void WritePayload(Utf8JsonWriter json, string payload)
    {
        try
        {
            json.WriteRawValue(payload);
        }
        catch (JsonException)
        {
            json.WriteStringValue(payload); // never lose an event to a malformed payload
        }
    }
}
