using System.Text;
using System.Text.Json;
using Portal.Agents.Runtime;
using Portal.Sessions;

namespace Portal.Components.Chat;

public enum ChatMessageKind { Text, ToolCall, Notice }

/// <summary>One entry of a conversation as shown: a message, a tool call with its approval and output, or a notice.</summary>
public sealed class ChatMessage(string id, string role, DateTimeOffset time, ChatMessageKind kind = ChatMessageKind.Text)
{
    private readonly StringBuilder _text = new();
    private string? _cached;

    public string Id { get; } = id;
    public string Role { get; } = role;
    public DateTimeOffset Time { get; } = time;
    public ChatMessageKind Kind { get; } = kind;
    public string? RunId { get; set; }
    public string? Agent { get; set; }
    public bool Offline { get; set; }
    /// <summary>True while tokens are still arriving.</summary>
    public bool Streaming { get; set; }
    /// <summary>Why the turn ended early: cancelled, denied, failed, interrupted.</summary>
    public string? EndedAs { get; set; }
    /// <summary>The model's text stopped before it was complete.</summary>
    public bool Incomplete { get; set; }
    /// <summary>The call this explanation explains.</summary>
    public string? Explains { get; set; }
    /// <summary>Set on a user message that was not delivered (the agent was busy).</summary>
    public string? Rejected { get; set; }
    public ToolCallView? Tool { get; set; }
    /// <summary>Changes whenever anything shown does; lets a message component skip re-rendering unchanged messages.</summary>
    public int Version { get; private set; }

    public string Text => _cached ??= _text.ToString();

    public void Append(string delta)
    {
        _text.Append(delta);
        Touch();
    }

    public void Replace(string text)
    {
        _text.Clear().Append(text);
        Touch();
    }

    public void Touch()
    {
        _cached = null;
        Version++;
    }
}

/// <summary>A person's answer to an approval card: the decision and, with a denial, what to tell the agent.</summary>
public sealed record ApprovalChoice(string CallId, string Decision, string? Message);

/// <summary>A tool call as shown: what it runs, whether it waits for approval, how it was answered, what it printed.</summary>
public sealed class ToolCallView
{
    public required string CallId { get; init; }
    public required string Name { get; init; }
    public required string Arguments { get; init; }
    public IReadOnlyList<string>? Command { get; set; }
    public string? Patch { get; set; }
    public IReadOnlyList<string>? Files { get; set; }
    public string? Reason { get; set; }
    /// <summary>True while an approval request waits for an answer.</summary>
    public bool AwaitingApproval { get; set; }
    public string? Decision { get; set; }
    public string? DecidedBy { get; set; }
    public DateTimeOffset? DecidedAt { get; set; }
    /// <summary>What the person told the agent with a denial.</summary>
    public string? DecisionMessage { get; set; }
    public string? DecisionNote { get; set; }
    /// <summary>The folder the command would run in, relative to the agent's working folder.</summary>
    public string? Workdir { get; set; }
    public string? Output { get; set; }
    /// <summary>The model's explanations of this call, in the order they were asked for (each streams in as it arrives).</summary>
    public List<ChatMessage> Explanations { get; } = [];

    /// <summary>The command as a person reads it: the script of <c>bash -lc</c>, else the argv joined.</summary>
    public string CommandLine => Command switch
    {
        null => Arguments,
        var argv when Agents.Approvals.SafeCommands.ShellScript(argv) is { } script => script,
        var argv => string.Join(' ', argv.Select(a => a.Length == 0 || a.Any(char.IsWhiteSpace) ? "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'" : a)),
    };
}

/// <summary>
/// A conversation folded from its session's events. Applying the same events in the same order always gives the
/// same view, which is what makes refresh, a second tab and a reconnect show exactly the same thing.
/// </summary>
public sealed class ConversationView
{
    private readonly Dictionary<string, ChatMessage> _byItem = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ChatMessage> _byCall = new(StringComparer.Ordinal);
    private readonly Dictionary<long, ChatMessage> _byInputSeq = [];
    private readonly Dictionary<string, (string Agent, bool Offline)> _runs = new(StringComparer.Ordinal);

    public List<ChatMessage> Messages { get; } = [];
    public long LastSeq { get; private set; }
    public string? RunningRunId { get; private set; }
    public bool Running => RunningRunId is not null;
    public string? LastError { get; private set; }
    /// <summary>The code of <see cref="LastError"/> (rate_limited, provider_auth, ...), for saying what to do next.</summary>
    public string? LastErrorCode { get; private set; }
    /// <summary>The tool call waiting for the user's approval, if any.</summary>
    public ToolCallView? PendingApproval { get; private set; }
    /// <summary>The agent this conversation talks to, from its first event.</summary>
    public string? Agent { get; private set; }

    /// <summary>Applies one event; events at or below <see cref="LastSeq"/> are ignored, so replays are harmless.</summary>
    public void Apply(SessionEvent e)
    {
        if (e.Seq <= LastSeq)
        {
            return;
        }
        LastSeq = e.Seq;
        try
        {
            ApplyCore(e);
        }
        catch (JsonException)
        {
            // An event this view cannot read is skipped; the log keeps it.
        }
    }

    private void ApplyCore(SessionEvent e)
    {
        switch (e.Type)
        {
            case EventTypes.SessionStarted:
                using (var document = JsonDocument.Parse(e.Payload))
                {
                    Agent = document.RootElement.TryGetProperty("agent", out var agent) ? agent.GetString() : null;
                }
                break;
            case EventTypes.UserInput when e.Direction == EventDirections.In:
                var input = AgentJson.Read<UserInputPayload>(e.Payload);
                var user = NewMessage($"u{e.Seq}", "user", e, input?.ReadText() ?? "");
                _byInputSeq[e.Seq] = user;
                LastError = null;
                LastErrorCode = null;
                break;
            case EventTypes.RunStarted when AgentJson.Read<RunStartedPayload>(e.Payload) is { } started:
                _runs[started.RunId] = (started.Agent, started.Offline);
                RunningRunId = started.RunId;
                Agent ??= started.Agent;
                break;
            case EventTypes.ResponseDelta when AgentJson.Read<ResponseDeltaPayload>(e.Payload) is { } delta:
                if (delta.Explains is { } explained && _byCall.TryGetValue(explained, out var card))
                {
                    var explanation = Explanation(card, delta.ItemId, delta.RunId, e);
                    explanation.Streaming = true;
                    explanation.Append(delta.Delta);
                    card.Touch();
                    break;
                }
                var streaming = AssistantMessage(delta.ItemId, delta.RunId, e);
                streaming.Streaming = true;
                streaming.Append(delta.Delta);
                break;
            case EventTypes.ResponseItem when AgentJson.Read<ResponseItemPayload>(e.Payload) is { } item:
                ApplyItem(item, e);
                break;
            case EventTypes.ApprovalRequest when AgentJson.Read<ApprovalRequestPayload>(e.Payload) is { } request:
                if (_byCall.TryGetValue(request.CallId, out var asked) && asked.Tool is { } tool)
                {
                    tool.Command = request.Command;
                    tool.Patch = request.ApplyPatch?.Patch;
                    tool.Files = request.ApplyPatch?.Files;
                    tool.Reason = request.Reason;
                    tool.Workdir = request.Workdir;
                    tool.AwaitingApproval = true;
                    tool.Decision = null;
                    PendingApproval = tool;
                    asked.Touch();
                }
                break;
            case EventTypes.ApprovalDecision when AgentJson.Read<ApprovalDecisionPayload>(e.Payload) is { } decision:
                if (_byCall.TryGetValue(decision.CallId, out var decided) && decided.Tool is { } answered)
                {
                    answered.AwaitingApproval = false;
                    answered.Decision = decision.Decision;
                    answered.DecidedBy = decision.By;
                    answered.DecidedAt = e.Time;
                    answered.DecisionMessage = decision.Message;
                    answered.DecisionNote = decision.Note ?? (decision.Remembered ? "Remembered for this conversation." : null);
                    if (PendingApproval == answered)
                    {
                        PendingApproval = null;
                    }
                    decided.Touch();
                }
                break;
            case AgentEventTypes.AgentFinished when AgentJson.Read<AgentFinishedPayload>(e.Payload) is { } finished:
                foreach (var message in Messages.Where(m => m.RunId == finished.RunId))
                {
                    message.Streaming = false;
                    if (message.Tool is { AwaitingApproval: true } waiting)
                    {
                        waiting.AwaitingApproval = false;
                    }
                    foreach (var explanation in message.Tool?.Explanations ?? [])
                    {
                        explanation.Streaming = false;
                        explanation.Touch();
                    }
                    message.Touch();
                }
                if (finished.Status != TurnStatuses.Completed && Messages.LastOrDefault(m => m.RunId == finished.RunId) is { } last)
                {
                    last.EndedAs = finished.Status;
                }
                if (PendingApproval is not null && _byCall.TryGetValue(PendingApproval.CallId, out var pending) && pending.RunId == finished.RunId)
                {
                    PendingApproval = null;
                }
                if (RunningRunId == finished.RunId)
                {
                    RunningRunId = null;
                }
                break;
            case EventTypes.Error when AgentJson.Read<ErrorPayload>(e.Payload) is { } error:
                if (error.InputSeq is { } seq && _byInputSeq.TryGetValue(seq, out var rejected))
                {
                    rejected.Rejected = error.Message;
                    rejected.Touch();
                }
                else
                {
                    LastError = error.Message;
                    LastErrorCode = error.Code;
                }
                break;
            case AgentEventTypes.ContextCompacted when AgentJson.Read<ContextCompactedPayload>(e.Payload) is { } compacted:
                var notice = NewMessage($"n{e.Seq}", "system", e, "", ChatMessageKind.Notice);
                notice.Append(compacted.ReplacedMessages == 0
                    ? "Nothing to compact yet."
                    : $"Context compacted ({compacted.Strategy}): {compacted.ReplacedMessages} earlier messages {(compacted.Summary is null ? "dropped" : "summarised")}, {compacted.OldTokenCount:N0} \u2192 {compacted.NewTokenCount:N0} tokens.");
                break;
        }
    }

    private void ApplyItem(ResponseItemPayload item, SessionEvent e)
    {
        switch (item.Type)
        {
            case ResponseItemTypes.Message when item is { Id: not null, RunId: not null, Explains: { } explained } && _byCall.TryGetValue(explained, out var card):
                var explanation = Explanation(card, item.Id, item.RunId, e);
                explanation.Replace(item.Text);
                explanation.Streaming = false;
                explanation.Incomplete = item.Status == "incomplete";
                card.Touch();
                break;
            case ResponseItemTypes.Message when item.Id is not null && item.RunId is not null:
                var complete = AssistantMessage(item.Id, item.RunId, e);
                complete.Replace(item.Text);
                complete.Streaming = false;
                complete.Incomplete = item.Status == "incomplete";
                complete.Explains = item.Explains;
                break;
            case ResponseItemTypes.FunctionCall when item.CallId is not null:
                var call = NewMessage("c" + item.CallId, "tool", e, "", ChatMessageKind.ToolCall);
                call.RunId = item.RunId;
                call.Tool = new ToolCallView { CallId = item.CallId, Name = item.Name ?? "tool", Arguments = item.Arguments ?? "{}" };
                _byCall[item.CallId] = call;
                break;
            case ResponseItemTypes.FunctionCallOutput when item.CallId is not null:
                if (_byCall.TryGetValue(item.CallId, out var done) && done.Tool is { } tool)
                {
                    tool.Output = item.Output;
                    tool.AwaitingApproval = false;
                    done.Touch();
                }
                break;
        }
    }

    /// <summary>
    /// The explanation with this item id, shown inside the card of the call it explains. Logs written before deltas
    /// named their call streamed it as a message of its own; the item that names the call moves it into the card.
    /// </summary>
    private ChatMessage Explanation(ChatMessage card, string itemId, string runId, SessionEvent e)
    {
        var tool = card.Tool!;
        if (_byItem.TryGetValue(itemId, out var existing))
        {
            if (existing.Explains is null && Messages.Remove(existing))
            {
                existing.Explains = tool.CallId;
                tool.Explanations.Add(existing);
            }
            return existing;
        }
        var explanation = new ChatMessage(itemId, "assistant", e.Time) { RunId = runId, Explains = tool.CallId };
        if (_runs.TryGetValue(runId, out var run))
        {
            explanation.Agent = run.Agent;
            explanation.Offline = run.Offline;
        }
        _byItem[itemId] = explanation;
        tool.Explanations.Add(explanation);
        return explanation;
    }

    private ChatMessage AssistantMessage(string itemId, string runId, SessionEvent e)
    {
        if (_byItem.TryGetValue(itemId, out var existing))
        {
            return existing;
        }
        var message = NewMessage(itemId, "assistant", e, "");
        message.RunId = runId;
        if (_runs.TryGetValue(runId, out var run))
        {
            message.Agent = run.Agent;
            message.Offline = run.Offline;
        }
        _byItem[itemId] = message;
        return message;
    }

    private ChatMessage NewMessage(string id, string role, SessionEvent e, string text, ChatMessageKind kind = ChatMessageKind.Text)
    {
        var message = new ChatMessage(id, role, e.Time, kind);
        if (text.Length > 0)
        {
            message.Append(text);
        }
        Messages.Add(message);
        return message;
    }
}
