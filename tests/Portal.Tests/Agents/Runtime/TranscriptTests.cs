using Portal.Agents.Providers;
using Portal.Agents.Runtime;
using Portal.Sessions;

namespace Portal.Tests.Agents.Runtime;

public sealed class TranscriptTests
{
    private static readonly ToolCall ListFiles = new("c1", "shell", """{"command":["ls","-la"]}""");
    private static readonly ToolCall ReadReadme = new("c2", "read_file", """{"path":"README.md"}""");
    private static readonly ToolCall Delete = new("c3", "shell", """{"command":["rm","-rf","build"]}""");

    private long _seq;

    [Fact]
    public void Fold_RealisticSession_EqualsWhatTheLiveMethodsBuilt()
    {
        var live = new Transcript();
        var events = new List<SessionEvent>();

        // Turn 1: the model says something, calls two tools in one response, one of them is explained first.
        var input1 = Input(events, "list the files and read the readme");
        Started(events, "r1", input1);
        live.AddUser("list the files and read the readme");
        Item(events, ResponseItemPayload.AssistantMessage("r1", "resp1", "m1", "Let me look."));
        Item(events, ResponseItemPayload.FunctionCall("r1", "resp1", ListFiles));
        Item(events, ResponseItemPayload.FunctionCall("r1", "resp1", ReadReadme));
        live.AddAssistant("resp1", "Let me look.", [ListFiles, ReadReadme]);
        var refused = Input(events, "are you done yet?");
        Out(events, EventTypes.Error, new ErrorPayload("The agent is still working.", "busy", InputSeq: refused));
        Out(events, EventTypes.ApprovalRequest, new ApprovalRequestPayload("r1", "c1", "shell", ["ls", "-la"], null, ".", "asks"));
        Item(events, ResponseItemPayload.AssistantMessage("r1", "explain_c1", "m2", "This lists files.") with { Explains = "c1" });
        Item(events, ResponseItemPayload.FunctionCallOutput("r1", "c1", "{\"output\":\"a.txt\"}"));
        live.AddToolResult("c1", "{\"output\":\"a.txt\"}");
        Item(events, ResponseItemPayload.FunctionCallOutput("r1", "c2", "# Readme"));
        live.AddToolResult("c2", "# Readme");
        Item(events, ResponseItemPayload.AssistantMessage("r1", "resp2", "m3", "There is a.txt and a readme."));
        live.AddAssistant("resp2", "There is a.txt and a readme.", []);
        Out(events, AgentEventTypes.AgentFinished, new AgentFinishedPayload("resp2", "r1", TurnStatuses.Completed));

        // Turn 2: a call without text, denied and continued.
        var input2 = Input(events, "delete the build folder");
        Started(events, "r2", input2);
        live.AddUser("delete the build folder");
        Item(events, ResponseItemPayload.FunctionCall("r2", "resp3", Delete));
        live.AddAssistant("resp3", "", [Delete]);
        Item(events, ResponseItemPayload.FunctionCallOutput("r2", "c3", "aborted: keep it"));
        live.AddToolResult("c3", "aborted: keep it");
        Item(events, ResponseItemPayload.AssistantMessage("r2", "resp4", "m4", "OK, I kept it."));
        live.AddAssistant("resp4", "OK, I kept it.", []);
        Out(events, AgentEventTypes.AgentFinished, new AgentFinishedPayload("resp4", "r2", TurnStatuses.Completed));

        var folded = Transcript.Fold(events);

        Assert.Equal(Describe(live.Messages), Describe(folded.Messages));
        Assert.Equal(Describe(live.ForModel(50)), Describe(folded.ForModel(50)));
        Assert.Equal(
        [
            "user: list the files and read the readme",
            "assistant: Let me look. [c1 shell {\"command\":[\"ls\",\"-la\"]}; c2 read_file {\"path\":\"README.md\"}]",
            "result c1 shell: {\"output\":\"a.txt\"}",
            "result c2 read_file: # Readme",
            "assistant: There is a.txt and a readme. []",
            "user: delete the build folder",
            "assistant:  [c3 shell {\"command\":[\"rm\",\"-rf\",\"build\"]}]",
            "result c3 shell: aborted: keep it",
            "assistant: OK, I kept it. []",
        ], Describe(folded.Messages));
    }

    [Fact]
    public void Fold_BusyRefusedInput_IsNotInTheHistory()
    {
        var events = new List<SessionEvent>();
        var first = Input(events, "first");
        Started(events, "r1", first);
        var refused = Input(events, "second, while busy");
        Out(events, EventTypes.Error, new ErrorPayload("busy", "busy", InputSeq: refused));
        Item(events, ResponseItemPayload.AssistantMessage("r1", "resp1", "m1", "answer"));
        Out(events, AgentEventTypes.AgentFinished, new AgentFinishedPayload("resp1", "r1", TurnStatuses.Completed));
        var third = Input(events, "third");
        Started(events, "r2", third);

        var texts = Describe(Transcript.Fold(events).Messages);

        Assert.Equal(["user: first", "assistant: answer []", "user: third"], texts);
    }

    [Fact]
    public void Fold_InputRefusedBeforeTheRunOfAnEarlierInputStarted_IsNotInTheHistory()
    {
        var events = new List<SessionEvent>();
        var first = Input(events, "first");
        var refused = Input(events, "second");
        Out(events, EventTypes.Error, new ErrorPayload("busy", "busy", InputSeq: refused));
        Started(events, "r1", first);

        Assert.Equal(["user: first"], Describe(Transcript.Fold(events).Messages));
    }

    [Fact]
    public void Fold_InputEchoedOutward_IsNotAUserMessage()
    {
        var events = new List<SessionEvent>();
        var echoed = Event(EventTypes.UserInput, UserInputPayload.FromText("echo"), EventDirections.Out);
        events.Add(echoed);
        Started(events, "r1", echoed.Seq);

        Assert.Empty(Transcript.Fold(events).Messages);
    }

    [Fact]
    public void Fold_Explanation_IsNotInTheHistory()
    {
        var events = new List<SessionEvent>();
        Started(events, "r1", Input(events, "delete build"));
        Item(events, ResponseItemPayload.FunctionCall("r1", "resp1", Delete));
        Item(events, ResponseItemPayload.AssistantMessage("r1", "explain_c3", "m1", "This deletes the build folder.") with { Explains = "c3" });
        Item(events, ResponseItemPayload.AssistantMessage("r1", "explain_c3", "m2", "Again: it deletes.") with { Explains = "c3" });

        var transcript = Transcript.Fold(events);

        Assert.Equal(["user: delete build", "assistant:  [c3 shell {\"command\":[\"rm\",\"-rf\",\"build\"]}]"], Describe(transcript.Messages));
        Assert.Equal(["c3"], transcript.UnansweredCalls().Select(c => c.CallId));
    }

    [Fact]
    public void Fold_ContextCompacted_ReplacesTheFirstMessagesWithTheSummary()
    {
        var live = new Transcript();
        var events = new List<SessionEvent>();
        foreach (var (text, answer, n) in new[] { ("one", "1", 1), ("two", "2", 2), ("three", "3", 3) })
        {
            Started(events, "r" + n, Input(events, text));
            Item(events, ResponseItemPayload.AssistantMessage("r" + n, "resp" + n, "m" + n, answer));
            live.AddUser(text);
            live.AddAssistant("resp" + n, answer, []);
        }
        var count = live.CompactableCount(keepTurns: 1);
        live.Compact(count, "the user counted to two");
        Out(events, AgentEventTypes.ContextCompacted, new ContextCompactedPayload(100, 40, 60, "threshold", "the user counted to two", count, Automatic: false));

        var folded = Transcript.Fold(events);

        Assert.Equal(4, count);
        Assert.Equal("the user counted to two", folded.Summary);
        Assert.Equal(["user: three", "assistant: 3 []"], Describe(folded.Messages));
        Assert.Equal(Describe(live.ForModel(50)), Describe(folded.ForModel(50)));
        Assert.Equal("user: Summary of the earlier conversation:\nthe user counted to two", Describe(folded.ForModel(50))[0]);
    }

    [Fact]
    public void Fold_CompactionWithoutSummary_KeepsTheEarlierSummary()
    {
        var events = new List<SessionEvent>();
        Started(events, "r1", Input(events, "one"));
        Started(events, "r2", Input(events, "two"));
        Out(events, AgentEventTypes.ContextCompacted, new ContextCompactedPayload(10, 5, 50, "threshold", "first summary", 1, Automatic: true));
        Started(events, "r3", Input(events, "three"));
        Out(events, AgentEventTypes.ContextCompacted, new ContextCompactedPayload(10, 5, 50, "dummy", null, 1, Automatic: true));

        var folded = Transcript.Fold(events);

        Assert.Equal("first summary", folded.Summary);
        Assert.Equal(["user: three"], Describe(folded.Messages));
    }

    [Fact]
    public void Fold_TurnWhoseModelAnsweredNothing_EqualsTheLiveTranscript()
    {
        // An empty answer leaves no response_item in the log; the live transcript must not keep one either
        // (an empty assistant message is also refused by some providers).
        var live = new Transcript();
        var events = new List<SessionEvent>();
        Started(events, "r1", Input(events, "hi"));
        live.AddUser("hi");
        live.AddAssistant("resp1", "", []);
        Out(events, AgentEventTypes.AgentFinished, new AgentFinishedPayload("resp1", "r1", TurnStatuses.Completed));
        Started(events, "r2", Input(events, "hello?"));
        live.AddUser("hello?");

        Assert.Equal(Describe(live.Messages), Describe(Transcript.Fold(events).Messages));
        Assert.Equal(["user: hi", "user: hello?"], Describe(live.ForModel(50)));
    }

    [Fact]
    public void Fold_UnreadableEvent_IsSkipped()
    {
        var events = new List<SessionEvent>();
        Started(events, "r1", Input(events, "hi"));
        events.Add(new SessionEvent("s", ++_seq, DateTimeOffset.UnixEpoch, EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent, "{not json", 9));
        Item(events, ResponseItemPayload.AssistantMessage("r1", "resp1", "m1", "hello"));

        Assert.Equal(["user: hi", "assistant: hello []"], Describe(Transcript.Fold(events).Messages));
    }

    [Fact]
    public void AddAssistant_ItemsOfOneResponse_MakeOneMessage()
    {
        var transcript = new Transcript();
        transcript.AddUser("go");

        transcript.AddAssistant("resp1", "Text.", []);
        transcript.AddAssistant("resp1", "", [ListFiles]);
        transcript.AddAssistant("resp2", "Next.", []);

        Assert.Equal(["user: go", "assistant: Text. [c1 shell {\"command\":[\"ls\",\"-la\"]}]", "assistant: Next. []"], Describe(transcript.Messages));
    }

    [Fact]
    public void AddToolResult_NamesTheToolOfItsCall()
    {
        var transcript = new Transcript();
        transcript.AddAssistant("resp1", "", [ReadReadme]);

        transcript.AddToolResult("c2", "text");
        transcript.AddToolResult("unknown-call", "text");

        Assert.Equal(["result c2 read_file: text", "result unknown-call unknown: text"], Describe(transcript.Messages.Skip(1)));
    }

    [Fact]
    public void UnansweredCalls_AfterSomeResults_AreTheRest()
    {
        var transcript = new Transcript();
        transcript.AddUser("go");
        transcript.AddAssistant("resp1", "", [ListFiles, ReadReadme, Delete]);
        transcript.AddToolResult("c2", "x");

        Assert.Equal(["c1", "c3"], transcript.UnansweredCalls().Select(c => c.CallId));

        transcript.AddUser("never mind");

        Assert.Empty(transcript.UnansweredCalls());
    }

    [Fact]
    public void ForModel_MaxHistory_CutsAtAUserMessage()
    {
        var transcript = new Transcript();
        transcript.AddUser("one");
        transcript.AddAssistant("resp1", "", [ListFiles]);
        transcript.AddToolResult("c1", "files");
        transcript.AddAssistant("resp2", "done one", []);
        transcript.AddUser("two");
        transcript.AddAssistant("resp3", "done two", []);

        // The last 5 messages start at the tool result: the history starts at the next user message instead.
        var messages = transcript.ForModel(5);

        Assert.Equal(["user: two", "assistant: done two []"], Describe(messages));
    }

    [Fact]
    public void ForModel_WindowWithoutAUserMessage_StartsAtTheLastUserMessage()
    {
        var transcript = new Transcript();
        transcript.AddUser("one");
        transcript.AddAssistant("resp1", "", [ListFiles]);
        transcript.AddToolResult("c1", "files");
        transcript.AddAssistant("resp2", "", [ReadReadme]);
        transcript.AddToolResult("c2", "readme");

        var messages = transcript.ForModel(2);

        Assert.Equal(5, messages.Count);
        Assert.Equal("user: one", Describe(messages)[0]);
    }

    [Fact]
    public void ForModel_CallsLeftWithoutAResult_GetAbortedBeforeTheNextMessage()
    {
        var transcript = new Transcript();
        transcript.AddUser("go");
        transcript.AddAssistant("resp1", "Working.", [ListFiles, ReadReadme]);
        transcript.AddToolResult("c1", "files");
        // Portal stopped before c2 ran; the user writes again.
        transcript.AddUser("still there?");

        var messages = transcript.ForModel(50);

        Assert.Equal(
        [
            "user: go",
            "assistant: Working. [c1 shell {\"command\":[\"ls\",\"-la\"]}; c2 read_file {\"path\":\"README.md\"}]",
            "result c1 shell: files",
            "result c2 read_file: aborted",
            "user: still there?",
        ], Describe(messages));
    }

    [Fact]
    public void ForModel_CallsOfTheLatestAnswer_AreLeftForTheirRealResults()
    {
        var transcript = new Transcript();
        transcript.AddUser("go");
        transcript.AddAssistant("resp1", "", [ListFiles]);

        Assert.Equal(["user: go", "assistant:  [c1 shell {\"command\":[\"ls\",\"-la\"]}]"], Describe(transcript.ForModel(50)));
    }

    [Fact]
    public void ForModel_ResultWhoseCallFellOutsideTheWindow_IsLeftOut()
    {
        var transcript = new Transcript();
        transcript.AddUser("one");
        transcript.AddAssistant("resp1", "", [ListFiles]);
        transcript.AddUser("two");
        transcript.AddToolResult("c1", "late");

        var messages = transcript.ForModel(2);

        Assert.Equal(["user: two"], Describe(messages));
    }

    [Fact]
    public void CompactableCount_KeepsTheLastTurnsWhole()
    {
        var transcript = new Transcript();
        transcript.AddUser("one");
        transcript.AddAssistant("resp1", "1", []);
        transcript.AddUser("two");
        transcript.AddAssistant("resp2", "2", []);

        Assert.Equal(2, transcript.CompactableCount(1));
        Assert.Equal(0, transcript.CompactableCount(2));
        Assert.Equal(0, transcript.CompactableCount(5));
    }

    [Fact]
    public void Compact_ReplacesTheFirstMessagesAndKeepsTheRest()
    {
        var transcript = new Transcript();
        transcript.AddUser("one");
        transcript.AddAssistant("resp1", "1", []);
        transcript.AddUser("two");

        transcript.Compact(2, "counted to one");
        transcript.Compact(0, null);

        Assert.Equal("counted to one", transcript.Summary);
        Assert.Equal(["user: two"], Describe(transcript.Messages));
        Assert.Equal(["user: Summary of the earlier conversation:\ncounted to one", "user: two"], Describe(transcript.ForModel(50)));
    }

    [Fact]
    public void EstimateTokens_GrowsWithTheConversation()
    {
        var transcript = new Transcript();
        var empty = transcript.EstimateTokens(null);
        transcript.AddUser(new string('x', 4000));

        Assert.Equal(0, empty);
        Assert.InRange(transcript.EstimateTokens("instructions"), 1000, 1020);
    }

    private static List<string> Describe(IEnumerable<ModelMessage> messages) => messages.Select(m => m switch
    {
        UserMessage u => "user: " + u.Text,
        AssistantMessage a => $"assistant: {a.Text} [{string.Join("; ", a.ToolCalls.Select(c => $"{c.CallId} {c.Name} {c.Arguments}"))}]",
        ToolResultMessage r => $"result {r.CallId} {r.Name}: {r.Output}",
        _ => throw new InvalidOperationException(m.GetType().Name),
    }).ToList();

    private long Input(List<SessionEvent> events, string text)
    {
        var e = Event(EventTypes.UserInput, UserInputPayload.FromText(text), EventDirections.In);
        events.Add(e);
        return e.Seq;
    }

    private void Started(List<SessionEvent> events, string runId, long inputSeq) =>
        events.Add(Event(EventTypes.RunStarted, new RunStartedPayload(runId, inputSeq, "Offline agent", "offline", "offline", true), EventDirections.Internal));

    private void Item(List<SessionEvent> events, ResponseItemPayload item) => Out(events, EventTypes.ResponseItem, item);

    private void Out<T>(List<SessionEvent> events, string type, T payload) => events.Add(Event(type, payload, EventDirections.Out));

    private SessionEvent Event<T>(string type, T payload, string direction)
    {
        var e = AgentJson.Event(direction, type, EventActors.Agent, payload);
        return new SessionEvent("s", ++_seq, DateTimeOffset.UnixEpoch, e.Direction, e.Type, e.Actor, e.Payload, e.Payload.Length);
    }
}
