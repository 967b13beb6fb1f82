using Portal.Admin;
using Portal.Agents.Runtime;
using Portal.Sessions;

namespace Portal.Tests.Admin;

public sealed class SessionDigestTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);
    private long _seq;

    private SessionEvent E<T>(string type, T payload, double atSeconds, string direction = EventDirections.Out, int size = 10)
    {
        var e = AgentJson.Event(direction, type, EventActors.Agent, payload);
        return new SessionEvent("s", ++_seq, T0.AddSeconds(atSeconds), e.Direction, e.Type, e.Actor, e.Payload, size);
    }

    [Fact]
    public void Approval_AnsweredLater_HasItsDecisionByAndLatency()
    {
        var digest = new SessionDigest();

        digest.Add(E(EventTypes.ApprovalRequest, new ApprovalRequestPayload("r", "c1", "shell", ["touch", "a.txt"], null, ".", "writes a file"), 1));
        digest.Add(E(EventTypes.ApprovalDecision, new ApprovalDecisionPayload("c1", "yes", "alice@portal.test"), 3.5, EventDirections.Internal));

        var approval = Assert.Single(digest.Approvals);
        Assert.Equal(("shell", "touch a.txt", "yes", "alice@portal.test"), (approval.Tool, approval.Summary, approval.Decision, approval.By));
        Assert.Equal(TimeSpan.FromSeconds(2.5), approval.Latency);
        Assert.Equal(1, digest.ApprovalCount);
    }

    [Fact]
    public void Approval_NotAnswered_IsWaitingWithoutLatency()
    {
        var digest = new SessionDigest();

        digest.Add(E(EventTypes.ApprovalRequest, new ApprovalRequestPayload("r", "c1", "apply_patch", null, new ApplyPatchInfo("…", ["a.cs", "b.cs"]), null, "edits files"), 1));

        var approval = Assert.Single(digest.Approvals);
        Assert.Null(approval.Decision);
        Assert.Null(approval.Latency);
        Assert.Equal("patch a.cs, b.cs", approval.Summary);
    }

    [Fact]
    public void Approval_ExplainedAndAskedAgain_LatencyRunsFromTheLastAsking()
    {
        var digest = new SessionDigest();

        digest.Add(E(EventTypes.ApprovalRequest, new ApprovalRequestPayload("r", "c1", "shell", ["rm", "x"], null, ".", "deletes"), 0));
        digest.Add(E(EventTypes.ApprovalDecision, new ApprovalDecisionPayload("c1", "explain", "bob"), 2, EventDirections.Internal));
        digest.Add(E(EventTypes.ApprovalRequest, new ApprovalRequestPayload("r", "c1", "shell", ["rm", "x"], null, ".", "deletes", Repeated: true), 5));
        digest.Add(E(EventTypes.ApprovalDecision, new ApprovalDecisionPayload("c1", "no-exit", "bob"), 6, EventDirections.Internal));

        var approval = Assert.Single(digest.Approvals);
        Assert.Equal("no-exit", approval.Decision);
        Assert.Equal(TimeSpan.FromSeconds(1), approval.Latency);
    }

    [Fact]
    public void ToolCall_WithItsOutput_IsOneRecord_AndLongOutputIsCut()
    {
        var digest = new SessionDigest();

        digest.Add(E(EventTypes.ResponseItem, ResponseItemPayload.FunctionCall("r", "p", new Portal.Agents.Providers.ToolCall("c1", "shell", """{"command":["ls"]}""")), 1));
        digest.Add(E(EventTypes.ResponseItem, ResponseItemPayload.FunctionCallOutput("r", "c1", new string('x', SessionDigest.MaxOutputChars + 10)), 2));
        digest.Add(E(EventTypes.ResponseItem, ResponseItemPayload.AssistantMessage("r", "p", "m", "done"), 3));

        var call = Assert.Single(digest.ToolCalls);
        Assert.Equal(("shell", """{"command":["ls"]}""", 2L, true), (call.Name, call.Arguments, call.OutputSeq, call.OutputCut));
        Assert.Equal(SessionDigest.MaxOutputChars, call.Output!.Length);
    }

    [Fact]
    public void AgentFinished_UsageAddsUpPerTurnAndInTotal()
    {
        var digest = new SessionDigest();

        digest.Add(E(AgentEventTypes.AgentFinished, new AgentFinishedPayload("p1", "r1", TurnStatuses.Completed, new UsagePayload(100, 20)), 1));
        digest.Add(E(AgentEventTypes.AgentFinished, new AgentFinishedPayload("p2", "r2", TurnStatuses.Cancelled, new UsagePayload(300, 5)), 2));
        digest.Add(E(AgentEventTypes.AgentFinished, new AgentFinishedPayload("p3", "r3", TurnStatuses.Failed, null, "boom"), 3));

        Assert.Equal([120, 305, 0], digest.Turns.Select(t => t.TotalTokens));
        Assert.Equal((400L, 25L, 425L, 3L), (digest.InputTokens, digest.OutputTokens, digest.TotalTokens, digest.TurnCount));
    }

    [Fact]
    public void WidgetSession_FramesAndCloseCodes_FromRecordedFramesStatsAndTheEnd()
    {
        var digest = new SessionDigest();
        digest.Tally(new EventTally(EventTypes.ProxyFrame, EventDirections.In, 4, 400));
        digest.Tally(new EventTally(EventTypes.ProxyFrame, EventDirections.Out, 6, 900));
        var frames = new
        {
            text = new { @in = new { frames = 0, bytes = 0 }, @out = new { frames = 0, bytes = 0 } },
            audio = new { @in = new { frames = 50, bytes = 32_000 }, @out = new { frames = 40, bytes = 25_600 } },
            binary = new { @in = new { frames = 0, bytes = 0 }, @out = new { frames = 2, bytes = 90 } },
        };

        digest.Add(E(EventTypes.ProxyFrame, new { realtimeInput = new { text = "hi" } }, 1, EventDirections.In, size: 30));
        digest.Apply(E(EventTypes.SessionEnded, new
        {
            initiator = "upstream",
            detail = "CES closed the session",
            client = new { code = 1000, reason = (string?)null },
            upstream = new { code = 1011, reason = "Internal error" },
            durationMs = 65_000.0,
            frames,
        }, 70, EventDirections.Internal));

        Assert.Equal(new FrameCounts(5, 430, 6, 900), digest.TextFrames);
        Assert.Equal(new FrameCounts(50, 32_000, 40, 25_600), digest.AudioFrames);
        Assert.Equal(new FrameCounts(0, 0, 2, 90), digest.BinaryFrames);
        Assert.Equal(new ProxyClose(1000, null, 1011, "Internal error", "upstream", "CES closed the session", 65_000), digest.Close);
    }

    [Fact]
    public void Tally_CountsByType()
    {
        var digest = new SessionDigest();

        digest.Tally(new EventTally("response_delta", EventDirections.Out, 90, 9_000));
        digest.Add(E("response_delta", new { delta = "x" }, 1));
        digest.Add(E("user_input", new { text = "x" }, 1, EventDirections.In));

        Assert.Equal(91, digest.TypeCounts["response_delta"]);
        Assert.Equal(1, digest.TypeCounts["user_input"]);
    }

    [Fact]
    public void Lists_KeepTheNewestEntriesOnly_ButCountAll()
    {
        var digest = new SessionDigest();

        for (var i = 0; i < SessionDigest.MaxItems + 20; i++)
        {
            digest.Add(E(AgentEventTypes.AgentFinished, new AgentFinishedPayload("p", $"r{i}", TurnStatuses.Completed, new UsagePayload(1, 1)), i));
        }

        Assert.Equal(SessionDigest.MaxItems, digest.Turns.Count);
        Assert.Equal($"r{SessionDigest.MaxItems + 19}", digest.Turns[^1].RunId);
        Assert.Equal(SessionDigest.MaxItems + 20, digest.TurnCount);
        Assert.Equal(2 * (SessionDigest.MaxItems + 20), digest.TotalTokens);
    }

    [Fact]
    public void Apply_PayloadStoredAsAPreview_IsSkipped()
    {
        var digest = new SessionDigest();

        digest.Apply(new SessionEvent("s", 1, T0, EventDirections.Out, AgentEventTypes.AgentFinished, EventActors.Agent, "{\"truncated\":true,\"preview\":\"{\\\"use", 300_000));

        Assert.Empty(digest.Turns);
    }
}
