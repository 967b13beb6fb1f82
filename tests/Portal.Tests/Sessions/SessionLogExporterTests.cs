using System.Text;
using System.Text.Json;
using Portal.Sessions;
using Portal.Sessions.Export;

namespace Portal.Tests.Sessions;

public sealed class SessionLogExporterTests
{
    private static readonly DateTimeOffset Time = new(2025, 1, 9, 12, 34, 56, 789, TimeSpan.Zero);

    [Fact]
    public void WriteLine_SessionStarted_MatchesTheSeedLifecycleRecord()
    {
        var line = Write(new SessionEvent("abc", 1, Time, EventDirections.Internal, EventTypes.SessionStarted, EventActors.System, "{}", 2));

        Assert.Equal("""{"timestamp":"2025-01-09T12:34:56.789Z","event_type":"websocket_message_received","direction":"incoming","message_data":{"event":"session_started"}}""", line);
    }

    [Fact]
    public void WriteLine_IncomingFrame_IsAReceivedMessageWithTypeAndPayload()
    {
        var line = Write(new SessionEvent("abc", 7, Time, EventDirections.In, "approval_response", EventActors.User, """{"review":"YES"}""", 17));

        Assert.Equal("""{"timestamp":"2025-01-09T12:34:56.789Z","event_type":"websocket_message_received","direction":"incoming","message_data":{"id":"abc-7","type":"approval_response","payload":{"review":"YES"}}}""", line);
    }

    [Fact]
    public void WriteLine_OutgoingFrame_IsASentMessage()
    {
        var line = Write(new SessionEvent("abc", 8, Time, EventDirections.Out, "loading_state", EventActors.Agent, """{"loading":true}""", 16));

        using var doc = JsonDocument.Parse(line);
        Assert.Equal("websocket_message_sent", doc.RootElement.GetProperty("event_type").GetString());
        Assert.Equal("outgoing", doc.RootElement.GetProperty("direction").GetString());
        Assert.True(doc.RootElement.GetProperty("message_data").GetProperty("payload").GetProperty("loading").GetBoolean());
    }

    [Fact]
    public void WriteLine_MalformedStoredPayload_IsExportedAsAString()
    {
        var line = Write(new SessionEvent("abc", 2, Time, EventDirections.In, "raw", EventActors.User, "not json", 8));

        using var doc = JsonDocument.Parse(line);
        Assert.Equal("not json", doc.RootElement.GetProperty("message_data").GetProperty("payload").GetString());
    }

    private static string Write(SessionEvent e)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            SessionLogExporter.WriteLine(json, e);
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
