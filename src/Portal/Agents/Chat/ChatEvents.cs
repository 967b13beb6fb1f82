using System.Text.Json.Serialization;

namespace Portal.Agents.Chat;

// Payloads of the events a chat run appends. Item shapes follow the Responses-style items of seed 001.

public sealed record UserInputPayload(string Text);

public sealed record RunStartedPayload(string RunId, string Agent, bool Offline);

public sealed record ResponseDeltaPayload(string RunId, string ItemId, string Delta);

public sealed record ResponseItemPayload(
    string RunId,
    string Id,
    string Type,
    string Role,
    IReadOnlyList<ContentPart> Content)
{
    public static ResponseItemPayload AssistantMessage(string runId, string itemId, string text) =>
        new(runId, itemId, "message", "assistant", [new ContentPart("output_text", text)]);

    [JsonIgnore]
    public string Text => string.Concat(Content.Select(c => c.Text));
}

public sealed record ContentPart(string Type, string Text);

public sealed record RunFinishedPayload(string RunId, string Status, string? Error = null);

public static class RunStatuses
{
    public const string Completed = "completed";
    public const string Stopped = "stopped";
    public const string Failed = "failed";
    public const string Interrupted = "interrupted";
}

public sealed record ErrorPayload(string Message, string Code);
