using Portal.Agents.Providers;
using Portal.Agents.Runtime;
using Portal.Sessions;

namespace Portal.Tests.Agents;

/// <summary>A /ws/chat session's history, rebuilt from its log: the questions arrive as <c>query</c> frames.</summary>
public sealed class ChatSocketHistoryTests
{
    [Fact]
    public void Fold_TakesQueryFramesAsTheUsersTurns()
    {
        var events = new[]
        {
            Event(1, EventDirections.In, "query", """{"type":"query","content":"What is WAL?","id":"q1"}"""),
            Event(2, EventDirections.Internal, EventTypes.RunStarted, AgentJson.Event("x", "x", "x", new RunStartedPayload("r1", 1, "a", "offline", "offline", true, false)).Payload),
            Event(3, EventDirections.Internal, EventTypes.ResponseItem, AgentJson.Event("x", "x", "x", ResponseItemPayload.AssistantMessage("r1", "resp1", "m1", "Write-ahead logging.")).Payload),
            Event(4, EventDirections.Out, "response", """{"type":"response","content":"Write-ahead logging.","correlationId":"q1"}"""),
        };

        var messages = Transcript.Fold(events).ForModel(50);

        Assert.Equal(2, messages.Count);
        Assert.Equal("What is WAL?", Assert.IsType<UserMessage>(messages[0]).Text);
        Assert.Equal("Write-ahead logging.", Assert.IsType<AssistantMessage>(messages[1]).Text);
    }

    private static SessionEvent Event(long seq, string direction, string type, string payload) =>
        new("s", seq, DateTimeOffset.UnixEpoch, direction, type, EventActors.User, payload, payload.Length);
}
