using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Agents.Runtime;

// The payloads of the events an agent turn appends. Shapes follow the agent protocol of seed 001, so the payload of
// an outgoing event is exactly the payload of the frame a /ws/agent client receives.

/// <summary>Event types of the agent loop, beyond the shared ones in <see cref="Sessions.EventTypes"/>.</summary>
public static class AgentEventTypes
{
    public const string LoadingState = "loading_state";
    public const string AgentFinished = "agent_finished";
    public const string ContextInfo = "context_info";
    public const string ContextCompacted = "context_compacted";
    public const string ApprovalResponse = "approval_response";
    public const string Cancel = "cancel";
    public const string GetContextInfo = "get_context_info";
    public const string ManualCompact = "manual_compact";
    public const string Resume = "resume";
    public const string ClientAttached = "client_attached";
    public const string ClientDetached = "client_detached";
    /// <summary>A frame that could not be read (not JSON, no type, unknown type); the text is kept, shortened.</summary>
    public const string UnreadableFrame = "unreadable_frame";
}

/// <summary>
/// A user's input as the agent protocol carries it: <c>{input: [{type:"message", role:"user", content:[{type:"input_text", text}]}]}</c>.
/// Readers also accept the shorter forms clients send: <c>input</c> as a list of content parts or a string, or <c>text</c>.
/// </summary>
public sealed record UserInputPayload(JsonElement? Input, string? PreviousResponseId = null, string? Text = null, bool? CancelCurrent = null)
{
    public static UserInputPayload FromText(string text) =>
        new(JsonSerializer.SerializeToElement(new[] { new { type = "message", role = "user", content = new[] { new { type = "input_text", text } } } }));

    /// <summary>The text of the input: every text part, joined by blank lines; null when there is none.</summary>
    public string? ReadText()
    {
        var parts = new List<string>();
        if (!string.IsNullOrEmpty(Text))
        {
            parts.Add(Text);
        }
        if (Input is { } input)
        {
            Collect(input, parts);
        }
        var text = string.Join("\n\n", parts.Where(p => p.Length > 0));
        return text.Length == 0 ? null : text;
    }

    private static void Collect(JsonElement element, List<string> parts)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                parts.Add(element.GetString()!);
                break;
            case JsonValueKind.Array:
                foreach (var child in element.EnumerateArray())
                {
                    Collect(child, parts);
                }
                break;
            case JsonValueKind.Object:
                if (element.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                {
                    parts.Add(text.GetString()!);
                }
                else if (element.TryGetProperty("content", out var content))
                {
                    Collect(content, parts);
                }
                break;
        }
    }
}

/// <summary>A turn began: the input it answers (by seq) and the agent answering.</summary>
public sealed record RunStartedPayload(string RunId, long InputSeq, string Agent, string Provider, string Model, bool Offline, bool ToolsEnabled = true);

public sealed record LoadingStatePayload(bool Loading);

/// <summary>A piece of streamed text; <paramref name="Explains"/> names the tool call when the text is an explanation of it.</summary>
public sealed record ResponseDeltaPayload(string RunId, string ItemId, string Delta, string? Explains = null);

public static class ResponseItemTypes
{
    public const string Message = "message";
    public const string FunctionCall = "function_call";
    public const string FunctionCallOutput = "function_call_output";
}

/// <summary>
/// A complete item of a response (seed 001's <c>ResponseItem</c>): an assistant message, a function call, or a function
/// call's output. Items of one model response share <see cref="ResponseId"/>.
/// </summary>
public sealed record ResponseItemPayload
{
    public required string Type { get; init; }
    public string? Id { get; init; }
    public string? RunId { get; init; }
    public string? ResponseId { get; init; }
    public string? Role { get; init; }
    public IReadOnlyList<ContentPart>? Content { get; init; }
    /// <summary>"incomplete" when the message was cut short (cancelled, interrupted, stream broken).</summary>
    public string? Status { get; init; }
    [JsonPropertyName("call_id")]
    public string? CallId { get; init; }
    public string? Name { get; init; }
    public string? Arguments { get; init; }
    public string? Output { get; init; }
    /// <summary>Set on an explanation the user asked for with EXPLAIN: the call it explains. Not part of the model's history.</summary>
    public string? Explains { get; init; }

    [JsonIgnore]
    public string Text => string.Concat((Content ?? []).Select(c => c.Text));

    public static ResponseItemPayload AssistantMessage(string runId, string responseId, string itemId, string text, bool incomplete = false) => new()
    {
        Type = ResponseItemTypes.Message,
        Id = itemId,
        RunId = runId,
        ResponseId = responseId,
        Role = "assistant",
        Content = [new ContentPart("output_text", text)],
        Status = incomplete ? "incomplete" : null,
    };

    public static ResponseItemPayload FunctionCall(string runId, string responseId, Providers.ToolCall call) => new()
    {
        Type = ResponseItemTypes.FunctionCall,
        Id = "fc_" + call.CallId,
        RunId = runId,
        ResponseId = responseId,
        CallId = call.CallId,
        Name = call.Name,
        Arguments = call.Arguments,
    };

    public static ResponseItemPayload FunctionCallOutput(string runId, string callId, string output) => new()
    {
        Type = ResponseItemTypes.FunctionCallOutput,
        Id = "fco_" + callId,
        RunId = runId,
        CallId = callId,
        Output = output,
    };
}

public sealed record ContentPart(string Type, string Text);

/// <summary>
/// A tool call waits for a person: the argv or patch, where it would run, and why it needs asking.
/// <c>Repeated</c> is true when the same call is asked again after an explanation.
/// </summary>
public sealed record ApprovalRequestPayload(
    string RunId,
    string CallId,
    string Tool,
    IReadOnlyList<string>? Command,
    ApplyPatchInfo? ApplyPatch,
    string? Workdir,
    string Reason,
    bool Repeated = false);

public sealed record ApplyPatchInfo(string Patch, IReadOnlyList<string> Files);

/// <summary>How a pending approval was answered, by whom, and whether the answer was remembered for the session.</summary>
public sealed record ApprovalDecisionPayload(
    string CallId,
    string Decision,
    string By,
    string? Message = null,
    bool Remembered = false,
    IReadOnlyList<string>? RememberedCommand = null,
    IReadOnlyList<string>? RememberedFiles = null,
    string? Note = null);

/// <summary>
/// An error. <c>InputSeq</c> names the input it refuses; <c>Connection</c> marks an error about one connection's frame,
/// delivered to that connection only.
/// </summary>
public sealed record ErrorPayload(string Message, string Code, string? RunId = null, bool? Retrying = null, JsonElement? Details = null,
    long? InputSeq = null, string? Connection = null);

public sealed record UsagePayload(int InputTokens, int OutputTokens)
{
    public int TotalTokens => InputTokens + OutputTokens;
}

/// <summary>The one event that ends a turn, whatever ended it.</summary>
public sealed record AgentFinishedPayload(string ResponseId, string RunId, string Status, UsagePayload? Usage = null, string? Error = null);

public static class TurnStatuses
{
    public const string Completed = "completed";
    /// <summary>Stopped by a person (cancel, or a new input that asked to cancel).</summary>
    public const string Cancelled = "cancelled";
    /// <summary>A person denied a tool call and asked to stop.</summary>
    public const string Denied = "denied";
    public const string Failed = "failed";
    /// <summary>Portal stopped while the turn was running.</summary>
    public const string Interrupted = "interrupted";
}

public sealed record ContextInfoPayload(int TokenCount, double UsagePercent, int TranscriptLength, int MaxTokens, string Strategy, double Threshold, int MaxHistory);

public sealed record ContextCompactedPayload(
    int OldTokenCount, int NewTokenCount, double ReductionPercent, string Strategy, string? Summary, int ReplacedMessages, bool Automatic);

/// <summary>A client attached to the session (connect or resume) or left it.</summary>
public sealed record ClientConnectionPayload(string Connection, string Protocol, long? AfterSeq = null, string? Reason = null, int? CloseStatus = null);
