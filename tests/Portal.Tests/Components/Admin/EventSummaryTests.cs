using System.Text.Json;
using Portal.Agents.Runtime;
using Portal.Components.Admin;
using Portal.Sessions;

namespace Portal.Tests.Components.Admin;

public sealed class EventSummaryTests
{
    private static string Of(string type, object payload) => EventSummary.Of(type, JsonSerializer.Serialize(payload, AgentJson.Options));

    [Fact]
    public void UserInput_IsWhatWasTyped()
    {
        Assert.Equal("Summarise the giraffe budget",
            EventSummary.Of(EventTypes.UserInput, """{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Summarise the giraffe budget"}]}]}"""));
    }

    [Fact]
    public void Delta_IsItsText()
    {
        Assert.Equal("The", EventSummary.Of(EventTypes.ResponseDelta, """{"runId":"run1","itemId":"msg1","delta":"The "}"""));
    }

    [Fact]
    public void AssistantMessage_IsItsText_FunctionCall_IsNameAndArguments_OutputIsTheOutput()
    {
        Assert.Equal("Done: three files.", Of(EventTypes.ResponseItem, ResponseItemPayload.AssistantMessage("r", "p", "i", "Done:\n three files.")));
        Assert.Equal("""shell({"command":["ls"]})""", EventSummary.Of(EventTypes.ResponseItem,
            """{"type":"function_call","call_id":"c1","name":"shell","arguments":"{\"command\":[\"ls\"]}"}"""));
        Assert.Equal("a.txt b.txt", Of(EventTypes.ResponseItem, ResponseItemPayload.FunctionCallOutput("r", "c", "a.txt b.txt")));
        Assert.Equal("exit 0", Of(EventTypes.ResponseItem, ResponseItemPayload.FunctionCallOutput("r", "c",
            """{"output":"","metadata":{"exit_code":0,"duration_seconds":0.017}}""")));
        Assert.Equal("exit 2: ls: no such file", Of(EventTypes.ResponseItem, ResponseItemPayload.FunctionCallOutput("r", "c",
            """{"output":"ls: no such file\n","metadata":{"exit_code":2}}""")));
    }

    [Fact]
    public void ApprovalRequest_IsTheCommandAndWhy()
    {
        Assert.Equal("touch x.txt — The command writes.",
            Of(EventTypes.ApprovalRequest, new ApprovalRequestPayload("r1", "call_1", "shell", ["touch", "x.txt"], null, ".", "The command writes.")));
        Assert.Equal("patch notes.txt, b.md — Edits files.",
            Of(EventTypes.ApprovalRequest, new ApprovalRequestPayload("r1", "call_1", "apply_patch", null, new ApplyPatchInfo("*** Begin Patch", ["notes.txt", "b.md"]), ".", "Edits files.")));
    }

    [Fact]
    public void ApprovalDecision_IsTheDecisionWhoAndTheirMessage()
    {
        Assert.Equal("denied by alice@portal.test: use git log instead",
            Of(EventTypes.ApprovalDecision, new ApprovalDecisionPayload("call_1", "denied", "alice@portal.test", "use git log instead")));
        Assert.Equal("approved by bob (for the session)", Of(EventTypes.ApprovalDecision, new ApprovalDecisionPayload("call_1", "approved", "bob", Remembered: true)));
    }

    [Fact]
    public void AgentFinished_IsTheStatusAndTokens()
    {
        Assert.Equal("completed · 1,200 in / 45 out",
            EventSummary.Of(AgentEventTypes.AgentFinished, """{"responseId":"resp1","runId":"run1","status":"completed","usage":{"inputTokens":1200,"outputTokens":45,"totalTokens":1245}}"""));
        Assert.Equal("failed: The provider is down", EventSummary.Of(AgentEventTypes.AgentFinished, """{"runId":"run1","status":"failed","error":"The provider is down"}"""));
    }

    [Theory]
    [InlineData("""{"realtimeInput":{"text":"where is my parcel"}}""", "realtimeInput: where is my parcel")]
    [InlineData("""{"sessionOutput":{"text":"On its way."}}""", "sessionOutput: On its way.")]
    [InlineData("""{"recognitionResult":{"transcript":"where is"}}""", "recognitionResult: where is")]
    [InlineData("""{"turnCompleted":{}}""", "turnCompleted")]
    [InlineData("""{"truncated":true,"originalBytes":300000,"preview":"{\"sessionOutput\""}""", """{"sessionOutput" """)]
    public void WidgetFrame_IsItsMessageKindAndText(string payload, string expected)
    {
        Assert.Equal(expected.TrimEnd(), EventSummary.Of(EventTypes.ProxyFrame, payload));
    }

    [Fact]
    public void WidgetConnectionEnd_IsWhoEndedItAndBothCloses()
    {
        Assert.Equal("client: widget 1000 bye, CES 1000 bye", EventSummary.Of(EventTypes.SessionEnded,
            """{"initiator":"client","detail":"The client closed the connection.","client":{"code":1000,"reason":"bye"},"upstream":{"code":1000,"reason":"bye"},"durationMs":169}"""));
        Assert.Equal("upstream: widget 1011, CES no close frame", EventSummary.Of(EventTypes.SessionEnded,
            """{"initiator":"upstream","client":{"code":1011,"reason":null},"upstream":{"code":null,"reason":null}}"""));
    }

    [Fact]
    public void WithoutTellingText_TheScalarsShow_ThenTheNames()
    {
        Assert.Equal("loading: true", EventSummary.Of(AgentEventTypes.LoadingState, """{"loading":true}"""));
        Assert.Equal("kind: agent, agent: offline", EventSummary.Of(EventTypes.SessionStarted, """{"kind":"agent","agent":"offline"}"""));
        Assert.Equal("Session ended", EventSummary.Of(EventTypes.SessionEnded, """{"reason":"Session ended","closeStatus":1000}"""));
        Assert.Equal("client, upstream", EventSummary.Of("x", """{"id":"1","client":{"code":1000},"upstream":{"code":1000}}"""));
    }

    [Fact]
    public void NotJson_IsItsTextOnOneLine_AndLongTextIsCut()
    {
        Assert.Equal("not json at all", EventSummary.Of("x", "not\n\n json   at all"));
        var summary = EventSummary.Of(EventTypes.ResponseDelta, JsonSerializer.Serialize(new { delta = new string('a', 500) }));
        Assert.Equal(EventSummary.MaxLength, summary.Length);
        Assert.EndsWith("…", summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Markup_StaysText()
    {
        // Blazor encodes what a cell shows; the summary itself must not drop or alter it.
        Assert.Equal("<script>alert(1)</script>", EventSummary.Of(EventTypes.ResponseDelta, """{"delta":"<script>alert(1)</script>"}"""));
    }
}
