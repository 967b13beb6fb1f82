using System.Text.Json;
using Portal.Agents.Chat;
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
        foreach (var e in Conversation(RunStatuses.Completed))
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
        foreach (var e in Conversation(RunStatuses.Completed).Take(4))
        {
            view.Apply(e);
        }

        var reply = view.Messages[^1];
        Assert.Equal("Hello ", reply.Text);
        Assert.True(reply.Streaming);
        Assert.True(view.Running);
    }

    [Fact]
    public void Apply_StoppedRun_KeepsThePartialReplyMarkedStopped()
    {
        var view = new ConversationView();
        foreach (var e in Conversation(RunStatuses.Stopped))
        {
            view.Apply(e);
        }

        Assert.Equal(RunStatuses.Stopped, view.Messages[^1].EndedAs);
    }

    [Fact]
    public void Apply_SameEventsTwice_ChangesNothing()
    {
        var events = Conversation(RunStatuses.Completed).ToList();
        var view = new ConversationView();
        foreach (var e in events.Concat(events))
        {
            view.Apply(e);
        }

        Assert.Equal(2, view.Messages.Count);
        Assert.Equal("Hello there", view.Messages[1].Text);
    }

    private IEnumerable<SessionEvent> Conversation(string finalStatus)
    {
        _seq = 0;
        yield return Event(EventTypes.UserInput, new UserInputPayload("hi"));
        yield return Event(EventTypes.RunStarted, new RunStartedPayload("r1", "Offline agent", true));
        yield return Event(EventTypes.ResponseDelta, new ResponseDeltaPayload("r1", "i1", "Hello "));
        yield return Event(EventTypes.ResponseDelta, new ResponseDeltaPayload("r1", "i1", ""));
        yield return Event(EventTypes.ResponseDelta, new ResponseDeltaPayload("r1", "i1", "there"));
        yield return Event(EventTypes.ResponseItem, ResponseItemPayload.AssistantMessage("r1", "i1", "Hello there"));
        yield return Event(EventTypes.RunFinished, new RunFinishedPayload("r1", finalStatus));
    }

    private SessionEvent Event<T>(string type, T payload) =>
        new("s", ++_seq, DateTimeOffset.UnixEpoch, EventDirections.Out, type, EventActors.Agent,
            JsonSerializer.Serialize(payload, Web), 0);

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
}
