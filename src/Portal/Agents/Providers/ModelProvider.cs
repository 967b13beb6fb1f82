using System.Text.Json;

namespace Portal.Agents.Providers;

/// <summary>A message of the conversation as models see it.</summary>
public abstract record ModelMessage;

/// <summary>What the user wrote.</summary>
public sealed record UserMessage(string Text) : ModelMessage;

/// <summary>What the model answered: text, and tool calls it wants made.</summary>
public sealed record AssistantMessage(string Text, IReadOnlyList<ToolCall> ToolCalls) : ModelMessage;

/// <summary>The result of one tool call, fed back to the model.</summary>
public sealed record ToolResultMessage(string CallId, string Name, string Output) : ModelMessage;

/// <summary>A tool call the model asked for; <see cref="Arguments"/> is JSON.</summary>
public sealed record ToolCall(string CallId, string Name, string Arguments)
{
    public JsonElement ParsedArguments()
    {
        try
        {
            using var document = JsonDocument.Parse(string.IsNullOrWhiteSpace(Arguments) ? "{}" : Arguments);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(new { });
        }
    }
}

/// <summary>A tool the model may call: a name, what it does, and its parameters as a JSON schema.</summary>
public sealed record ToolDefinition(string Name, string Description, JsonElement Parameters);

/// <summary>One request to a model.</summary>
public sealed record ModelRequest(
    string Model,
    string? Instructions,
    IReadOnlyList<ModelMessage> Messages,
    IReadOnlyList<ToolDefinition> Tools,
    double? Temperature,
    int? MaxTokens);

/// <summary>What a model streams back.</summary>
public abstract record ModelStreamEvent;

/// <summary>More text of the answer.</summary>
public sealed record TextDelta(string Text) : ModelStreamEvent;

/// <summary>A complete tool call (arguments assembled from their streamed pieces).</summary>
public sealed record ToolCallRequested(ToolCall Call) : ModelStreamEvent;

/// <summary>Tokens used by the request.</summary>
public sealed record UsageReported(int InputTokens, int OutputTokens) : ModelStreamEvent;

/// <summary>A provider failure, classified so the loop knows whether it may retry and what to tell the user.</summary>
public sealed class ModelProviderException(string message, string code, bool retryable, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>provider_auth, rate_limited, provider_unavailable, provider_error, bad_request, stream_broken, timeout.</summary>
    public string Code { get; } = code;

    /// <summary>True when nothing was streamed yet and the same request may be sent again.</summary>
    public bool Retryable { get; } = retryable;

    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>A model backend: OpenAI-compatible, Anthropic, Gemini, or the built-in offline agent.</summary>
public interface IModelProvider
{
    /// <summary>openai, anthropic, google, offline.</summary>
    string Name { get; }

    /// <summary>Streams the answer; throws <see cref="ModelProviderException"/> on failure.</summary>
    IAsyncEnumerable<ModelStreamEvent> StreamAsync(ModelRequest request, CancellationToken cancellationToken);
}
