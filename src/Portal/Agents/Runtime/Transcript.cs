using System.Text.Json;
using Portal.Agents.Providers;
using Portal.Sessions;

namespace Portal.Agents.Runtime;

/// <summary>
/// The conversation as the model sees it, kept by the runtime as a turn goes and rebuilt from the session's events
/// (<see cref="Fold"/>) after a restart, so the two always agree. Older turns can be replaced by a summary.
/// </summary>
public sealed class Transcript
{
    public const string AbortedOutput = "aborted";
    private const string SummaryHeading = "Summary of the earlier conversation:\n";

    private readonly List<Entry> _entries = [];

    /// <summary>What compaction left of the turns it replaced.</summary>
    public string? Summary { get; private set; }

    public int Count => _entries.Count;

    public IEnumerable<ModelMessage> Messages => _entries.Select(e => e.Message);

    public void AddUser(string text) => _entries.Add(new Entry(new UserMessage(text), null));

    /// <summary>
    /// Adds a model's answer; items of the same response (text, then its calls) make one message. An empty answer adds
    /// nothing: the log holds no item for it, so <see cref="Fold"/> could not rebuild it (and providers refuse empty messages).
    /// </summary>
    public void AddAssistant(string responseId, string text, IReadOnlyList<ToolCall> calls)
    {
        if (text.Length == 0 && calls.Count == 0)
        {
            return;
        }
        if (_entries.Count > 0 && _entries[^1] is { Message: AssistantMessage last, ResponseId: { } id } && id == responseId)
        {
            _entries[^1] = new Entry(new AssistantMessage(last.Text + text, [.. last.ToolCalls, .. calls]), responseId);
            return;
        }
        _entries.Add(new Entry(new AssistantMessage(text, calls), responseId));
    }

    public void AddToolResult(string callId, string output)
    {
        var name = _entries.Select(e => e.Message).OfType<AssistantMessage>().SelectMany(m => m.ToolCalls)
            .LastOrDefault(c => c.CallId == callId)?.Name ?? "unknown";
        _entries.Add(new Entry(new ToolResultMessage(callId, name, output), null));
    }

    /// <summary>The calls of the latest answer that have no result yet (none once the user has spoken since).</summary>
    public IReadOnlyList<ToolCall> UnansweredCalls()
    {
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            switch (_entries[i].Message)
            {
                case UserMessage:
                    return [];
                case AssistantMessage assistant:
                    var answered = _entries.Skip(i + 1).Select(e => e.Message).OfType<ToolResultMessage>().Select(r => r.CallId).ToHashSet(StringComparer.Ordinal);
                    return assistant.ToolCalls.Where(c => !answered.Contains(c.CallId)).ToList();
            }
        }
        return [];
    }

    /// <summary>
    /// The messages to send: the summary first, at most <paramref name="maxHistory"/> messages starting at a user message,
    /// and an "aborted" result for every call left without one (a turn cut off by a crash), as every provider requires.
    /// </summary>
    public List<ModelMessage> ForModel(int maxHistory)
    {
        var start = Math.Max(0, _entries.Count - Math.Max(1, maxHistory));
        var firstUser = _entries.FindIndex(start, e => e.Message is UserMessage);
        if (firstUser < 0)
        {
            firstUser = _entries.FindLastIndex(e => e.Message is UserMessage);
        }
        start = Math.Max(0, firstUser);
        var messages = new List<ModelMessage>(_entries.Count - start + 2);
        if (Summary is not null)
        {
            messages.Add(new UserMessage(SummaryHeading + Summary));
        }
        HashSet<string>? open = null;
        for (var i = start; i < _entries.Count; i++)
        {
            var message = _entries[i].Message;
            if (message is ToolResultMessage result)
            {
                if (open?.Remove(result.CallId) == true)
                {
                    messages.Add(message);
                }
                continue; // a result whose call fell outside the window
            }
            CloseOpenCalls(messages, open);
            messages.Add(message);
            open = message is AssistantMessage { ToolCalls.Count: > 0 } assistant
                ? assistant.ToolCalls.Select(c => c.CallId).ToHashSet(StringComparer.Ordinal)
                : null;
        }
        CloseOpenCalls(messages, open, atEnd: true);
        return messages;
    }

    private void CloseOpenCalls(List<ModelMessage> messages, HashSet<string>? open, bool atEnd = false)
    {
        if (open is null || open.Count == 0 || atEnd)
        {
            return; // at the end, unanswered calls are the current step's and get real results
        }
        foreach (var callId in open)
        {
            var name = _entries.Select(e => e.Message).OfType<AssistantMessage>().SelectMany(m => m.ToolCalls).Last(c => c.CallId == callId).Name;
            messages.Add(new ToolResultMessage(callId, name, AbortedOutput));
        }
        open.Clear();
    }

    /// <summary>A rough token count (four characters a token), enough to decide when to compact.</summary>
    public int EstimateTokens(string? instructions)
    {
        long chars = (instructions?.Length ?? 0) + (Summary?.Length ?? 0);
        foreach (var entry in _entries)
        {
            chars += 16 + entry.Message switch
            {
                UserMessage u => u.Text.Length,
                AssistantMessage a => a.Text.Length + a.ToolCalls.Sum(c => c.Name.Length + c.Arguments.Length),
                ToolResultMessage r => r.Output.Length,
                _ => 0,
            };
        }
        return (int)Math.Min(int.MaxValue, chars / 4);
    }

    /// <summary>How many leading messages compaction may replace so that the last <paramref name="keepTurns"/> user turns stay whole.</summary>
    public int CompactableCount(int keepTurns)
    {
        var seen = 0;
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (_entries[i].Message is UserMessage && ++seen == keepTurns)
            {
                return i;
            }
        }
        return 0;
    }

    /// <summary>Replaces the first <paramref name="count"/> messages by <paramref name="summary"/> (null keeps the previous summary).</summary>
    public void Compact(int count, string? summary)
    {
        _entries.RemoveRange(0, Math.Clamp(count, 0, _entries.Count));
        if (summary is not null)
        {
            Summary = summary;
        }
    }

    /// <summary>The transcript as the events of a session describe it.</summary>
    public static Transcript Fold(IEnumerable<SessionEvent> events)
    {
        var transcript = new Transcript();
        var inputs = new Dictionary<long, string>();
        foreach (var e in events)
        {
            try
            {
                transcript.Apply(e, inputs);
            }
            catch (JsonException)
            {
                // An event that cannot be read does not break the conversation.
            }
        }
        return transcript;
    }

    private void Apply(SessionEvent e, Dictionary<long, string> inputs)
    {
        switch (e.Type)
        {
            case EventTypes.UserInput when e.Direction == EventDirections.In:
                if (AgentJson.Read<UserInputPayload>(e.Payload)?.ReadText() is { } text)
                {
                    inputs[e.Seq] = text;
                }
                break;
            case "query" when e.Direction == EventDirections.In:
                // The chat protocol (seed 002) carries the question as {"type":"query","content":"..."}.
                using (var query = JsonDocument.Parse(e.Payload))
                {
                    if (query.RootElement.ValueKind == JsonValueKind.Object && query.RootElement.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                    {
                        inputs[e.Seq] = content.GetString()!;
                    }
                }
                break;
            case EventTypes.RunStarted when AgentJson.Read<RunStartedPayload>(e.Payload) is { } started:
                if (inputs.Remove(started.InputSeq, out var input))
                {
                    AddUser(input);
                }
                inputs.Clear();
                break;
            case EventTypes.ResponseItem when AgentJson.Read<ResponseItemPayload>(e.Payload) is { } item:
                switch (item.Type)
                {
                    case ResponseItemTypes.Message when item.Role == "assistant" && item.Explains is null:
                        AddAssistant(item.ResponseId ?? item.Id ?? "", item.Text, []);
                        break;
                    case ResponseItemTypes.FunctionCall when item.CallId is not null:
                        AddAssistant(item.ResponseId ?? item.Id ?? "", "", [new ToolCall(item.CallId, item.Name ?? "", item.Arguments ?? "{}")]);
                        break;
                    case ResponseItemTypes.FunctionCallOutput when item.CallId is not null:
                        AddToolResult(item.CallId, item.Output ?? "");
                        break;
                }
                break;
            case AgentEventTypes.ContextCompacted when AgentJson.Read<ContextCompactedPayload>(e.Payload) is { } compacted:
                Compact(compacted.ReplacedMessages, compacted.Summary);
                break;
        }
    }

    private sealed record Entry(ModelMessage Message, string? ResponseId);
}

/// <summary>JSON of agent events: web names, nulls left out.</summary>
public static class AgentJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static T? Read<T>(string json) => JsonSerializer.Deserialize<T>(json, Options);

    public static NewSessionEvent Event<T>(string direction, string type, string actor, T payload) =>
        new(direction, type, actor, JsonSerializer.Serialize(payload, Options));
}
