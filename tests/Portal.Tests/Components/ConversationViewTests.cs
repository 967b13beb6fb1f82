using System.Text.Json;
using Portal.Agents.Runtime;
using Portal.Components.Chat;
using Portal.Sessions;

namespace Portal.Tests.Components;

public sealed class ConversationViewTests
{
    private long _seq;

    [Fact]
    public void Apply_AStreamedReply_BuildsTheUserAndAssistantMessages()
    {
        var view = new ConversationView();
        foreach (var e in Conversation(TurnStatuses.Completed))
        {
            view.Apply(e);
        }

        Assert.Collection(view.Messages,
            m => Assert.Equal(("user", "hi"), (m.Role, m.Text)),
            m =>
            {
                Assert.Equal(("assistant", "Hello there"), (m.Role, m.Text));
                Assert.False(m.Streaming);
                Assert.True(m.Offline);
                Assert.Null(m.EndedAs);
            });
        Assert.False(view.Running);
    }

    [Fact]
    public void Apply_MidStream_ShowsThePartialReplyAsStreaming()
    {
        var view = new ConversationView();
        foreach (var e in Conversation(TurnStatuses.Completed).Take(4))
        {
            view.Apply(e);
        }

        var reply = view.Messages[^1];
        Assert.Equal("Hello ", reply.Text);
        Assert.True(reply.Streaming);
        Assert.True(view.Running);
    }

    [Fact]
    public void Apply_CancelledTurn_KeepsThePartialReplyMarkedCancelled()
    {
        var view = new ConversationView();
        foreach (var e in Conversation(TurnStatuses.Cancelled))
        {
            view.Apply(e);
        }

        Assert.Equal(TurnStatuses.Cancelled, view.Messages[^1].EndedAs);
    }

    [Fact]
    public void Apply_SameEventsTwice_ChangesNothing()
    {
        var events = Conversation(TurnStatuses.Completed).ToList();
        var view = new ConversationView();
        foreach (var e in events.Concat(events))
        {
            view.Apply(e);
        }

        Assert.Equal(2, view.Messages.Count);
        Assert.Equal("Hello there", view.Messages[1].Text);
    }

    [Fact]
    public void Apply_AnExplanationStreaming_ShowsItInsideTheCallsCard()
    {
        var view = new ConversationView();
        foreach (var e in Explained(namedOnDeltas: true).Take(7))
        {
            view.Apply(e);
        }

        var card = Assert.Single(view.Messages, m => m.Kind == ChatMessageKind.ToolCall);
        var explanation = Assert.Single(card.Tool!.Explanations);
        Assert.Equal("It creates ", explanation.Text);
        Assert.True(explanation.Streaming);
        Assert.DoesNotContain(view.Messages, m => m.Role == "assistant");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // a log written before deltas named the call they explain
    public void Apply_AnExplainedCall_KeepsTheExplanationInTheCard_NotAsAMessageOfItsOwn(bool namedOnDeltas)
    {
        var view = new ConversationView();
        foreach (var e in Explained(namedOnDeltas))
        {
            view.Apply(e);
        }

        Assert.Collection(view.Messages,
            m => Assert.Equal("user", m.Role),
            m =>
            {
                var explanation = Assert.Single(m.Tool!.Explanations);
                Assert.Equal("It creates an empty file.", explanation.Text);
                Assert.Equal("call_1", explanation.Explains);
                Assert.False(explanation.Streaming);
                Assert.True(m.Tool.AwaitingApproval);
            });
    }

    private IEnumerable<SessionEvent> Conversation(string finalStatus)
    {
        _seq = 0;
        yield return Event(EventTypes.UserInput, UserInputPayload.FromText("hi"), EventDirections.In);
        yield return Event(EventTypes.RunStarted, new RunStartedPayload("r1", 1, "Offline agent", "offline", "offline", true), EventDirections.Internal);
        yield return Event(EventTypes.ResponseDelta, new ResponseDeltaPayload("r1", "i1", "Hello "));
        yield return Event(EventTypes.ResponseDelta, new ResponseDeltaPayload("r1", "i1", ""));
        yield return Event(EventTypes.ResponseDelta, new ResponseDeltaPayload("r1", "i1", "there"));
        yield return Event(EventTypes.ResponseItem, ResponseItemPayload.AssistantMessage("r1", "resp1", "i1", "Hello there"));
        yield return Event(AgentEventTypes.AgentFinished, new AgentFinishedPayload("resp1", "r1", finalStatus));
    }

    /// <summary>A shell call waiting for approval, explained at the person's request, then asked again.</summary>
    private IEnumerable<SessionEvent> Explained(bool namedOnDeltas)
    {
        _seq = 0;
        var explains = namedOnDeltas ? "call_1" : null;
        yield return Event(EventTypes.UserInput, UserInputPayload.FromText("make x"), EventDirections.In);
        yield return Event(EventTypes.RunStarted, new RunStartedPayload("r1", 1, "Offline agent", "offline", "offline", true), EventDirections.Internal);
        yield return Event(EventTypes.ResponseItem, ResponseItemPayload.FunctionCall("r1", "resp1", new Portal.Agents.Providers.ToolCall("call_1", "shell", """{"command":["touch","x.txt"]}""")));
        yield return Event(EventTypes.ApprovalRequest, new ApprovalRequestPayload("r1", "call_1", "shell", ["touch", "x.txt"], null, ".", "The command is not a known read-only command."));
        yield return Event(EventTypes.ApprovalDecision, new ApprovalDecisionPayload("call_1", "explain", "alice@portal.test"), EventDirections.In);
        yield return Event(EventTypes.ResponseDelta, new ResponseDeltaPayload("r1", "i2", "It ", explains));
        yield return Event(EventTypes.ResponseDelta, new ResponseDeltaPayload("r1", "i2", "creates ", explains));
        yield return Event(EventTypes.ResponseDelta, new ResponseDeltaPayload("r1", "i2", "an empty file.", explains));
        yield return Event(EventTypes.ResponseItem, ResponseItemPayload.AssistantMessage("r1", "explain_call_1", "i2", "It creates an empty file.") with { Explains = "call_1" });
        yield return Event(EventTypes.ApprovalRequest, new ApprovalRequestPayload("r1", "call_1", "shell", ["touch", "x.txt"], null, ".", "The command is not a known read-only command.", Repeated: true));
    }

    private SessionEvent Event<T>(string type, T payload, string direction = EventDirections.Out) =>
        new("s", ++_seq, DateTimeOffset.UnixEpoch, direction, type, EventActors.Agent,
            JsonSerializer.Serialize(payload, AgentJson.Options), 0);
}
