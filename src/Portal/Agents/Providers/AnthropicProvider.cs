using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Anthropic;
using Anthropic.Core;
using Anthropic.Exceptions;
using Anthropic.Services;
using Sdk = Anthropic.Models.Messages;

namespace Portal.Agents.Providers;

/// <summary>
/// Claude through the Anthropic Messages API and the official SDK: one streamed request per call, text deltas passed
/// on as they arrive, tool calls assembled from their JSON pieces, failures classified for the agent loop.
/// </summary>
public sealed class AnthropicProvider : IModelProvider
{
    /// <summary>The Messages API requires max_tokens; this is sent when the request leaves it open.</summary>
    public const int DefaultMaxTokens = 4096;

    private static readonly JsonElement ObjectType = JsonSerializer.SerializeToElement("object");

    // Only the message service is kept: disposing the client would dispose the HttpClient, which belongs to the caller.
    private readonly IMessageService _messages;

    public AnthropicProvider(ProviderEndpoint endpoint, HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(http);
        var client = new AnthropicClient(new ClientOptions
        {
            // Sent as Authorization: Bearer by this SDK version; an explicit key also keeps the SDK from reading
            // ANTHROPIC_* credentials from the environment.
            ApiKey = endpoint.ApiKey,
            BaseUrl = endpoint.BaseUrl is { } baseUrl ? baseUrl.ToString().TrimEnd('/') : EnvironmentUrl.Production,
            HttpClient = http,
            // The agent loop decides about retries; the SDK must not retry behind its back.
            MaxRetries = 0,
        });
        _messages = client.Messages;
    }

    public string Name => "anthropic";

    public async IAsyncEnumerable<ModelStreamEvent> StreamAsync(
        ModelRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var parameters = BuildParameters(request);

        // The SDK's exceptions carry the status and body but not the headers; a handler of this call alone keeps the
        // failed response's Retry-After.
        var failure = new FailedResponse();
        var messages = _messages.WithOptions(options => options with { Handlers = [failure.CreateHandler()] });

        var stream = new StreamState();
        var pending = new List<ModelStreamEvent>();
        var yielded = false;
        await using var events = messages.CreateStreaming(parameters, cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (!stream.Stopped)
        {
            try
            {
                if (!await events.MoveNextAsync())
                {
                    break;
                }
                stream.Apply(events.Current, pending);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception exception)
            {
                // A cancelled call can also surface as a broken read; the caller asked for the stop, so it stays one.
                cancellationToken.ThrowIfCancellationRequested();
                throw Classify(exception, yielded, failure.RetryAfter);
            }
            foreach (var item in pending)
            {
                yielded = true;
                yield return item;
            }
            pending.Clear();
        }

        if (!stream.Stopped)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw yielded
                ? new ModelProviderException("The Anthropic stream ended before the answer was complete.", "stream_broken", retryable: false)
                : new ModelProviderException("The Anthropic stream ended before the answer began.", "provider_unavailable", retryable: true);
        }
    }

    private static Sdk.MessageCreateParams BuildParameters(ModelRequest request)
    {
        var parameters = new Sdk.MessageCreateParams
        {
            Model = request.Model,
            MaxTokens = request.MaxTokens ?? DefaultMaxTokens,
            Messages = MapMessages(request.Messages),
        };
        if (!string.IsNullOrEmpty(request.Instructions))
        {
            parameters = parameters with { System = request.Instructions };
        }
        if (request.Tools.Count > 0)
        {
            parameters = parameters with { Tools = [.. request.Tools.Select(MapTool)] };
        }
        if (request.Temperature is { } temperature)
        {
            // Version 13 of the SDK has no typed temperature any more; the API still takes it (for the models that
            // accept sampling parameters), so it goes into the raw body the SDK sends.
            var body = parameters.RawBodyData.ToDictionary();
            body["temperature"] = JsonSerializer.SerializeToElement(temperature);
            parameters = Sdk.MessageCreateParams.FromRawUnchecked(parameters.RawHeaderData, parameters.RawQueryData, body);
        }
        return parameters;
    }

    private static List<Sdk.MessageParam> MapMessages(IReadOnlyList<ModelMessage> messages)
    {
        var mapped = new List<Sdk.MessageParam>();
        List<Sdk.ContentBlockParam>? toolResults = null;
        foreach (var message in messages)
        {
            if (message is ToolResultMessage result)
            {
                // The API wants every result of one assistant turn in a single user message.
                toolResults ??= [];
                toolResults.Add(new Sdk.ToolResultBlockParam(result.CallId) { Content = result.Output });
                continue;
            }
            if (toolResults is not null)
            {
                mapped.Add(new Sdk.UserMessageParam(toolResults));
                toolResults = null;
            }
            switch (message)
            {
                case UserMessage user:
                    mapped.Add(new Sdk.UserMessageParam(user.Text));
                    break;
                case AssistantMessage assistant:
                    mapped.Add(MapAssistant(assistant));
                    break;
                default:
                    throw new ArgumentException($"Unknown message type {message.GetType().Name}.", nameof(messages));
            }
        }
        if (toolResults is not null)
        {
            mapped.Add(new Sdk.UserMessageParam(toolResults));
        }
        return mapped;
    }

    private static Sdk.AssistantMessageParam MapAssistant(AssistantMessage assistant)
    {
        var blocks = new List<Sdk.ContentBlockParam>();
        if (!string.IsNullOrEmpty(assistant.Text))
        {
            blocks.Add(new Sdk.TextBlockParam(assistant.Text));
        }
        foreach (var call in assistant.ToolCalls)
        {
            blocks.Add(new Sdk.ToolUseBlockParam { ID = call.CallId, Name = call.Name, Input = ObjectMembers(call.ParsedArguments()) });
        }
        // A turn with neither text nor calls goes as plain (empty) text: the API refuses empty text blocks and empty lists alike.
        return blocks.Count == 0 ? new Sdk.AssistantMessageParam(assistant.Text) : new Sdk.AssistantMessageParam(blocks);
    }

    private static Sdk.Tool MapTool(ToolDefinition tool)
    {
        var schema = ObjectMembers(tool.Parameters);
        if (!schema.ContainsKey("type"))
        {
            schema["type"] = ObjectType;
        }
        return new Sdk.Tool
        {
            Name = tool.Name,
            Description = tool.Description,
            // The whole schema as given (additionalProperties, descriptions, nested definitions), not only the
            // members the SDK models.
            InputSchema = Sdk.InputSchema.FromRawUnchecked(schema),
        };
    }

    private static Dictionary<string, JsonElement> ObjectMembers(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object
            ? element.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone())
            : [];

    private static ModelProviderException Classify(Exception exception, bool yielded, TimeSpan? retryAfter)
    {
        switch (exception)
        {
            case AnthropicApiException api:
                return FromStatus((int)api.StatusCode, ErrorText(api.Body, api.ApiMessage), retryAfter, api);
            case AnthropicSseException sse:
                return new ModelProviderException(
                    $"Anthropic reported an error during the answer: {ErrorText(sse.Body, sse.ApiMessage)}",
                    "provider_unavailable", retryable: !yielded, inner: sse);
            case OperationCanceledException or TimeoutException:
                return new ModelProviderException("Anthropic did not answer in time.", "timeout", retryable: !yielded, inner: exception);
            case AnthropicIOException or HttpRequestException or IOException:
                return yielded
                    ? new ModelProviderException("The connection to Anthropic broke during the answer.", "stream_broken", retryable: false,
                        inner: exception)
                    : new ModelProviderException("Anthropic could not be reached.", "provider_unavailable", retryable: true, inner: exception);
            default:
                return new ModelProviderException($"Anthropic sent an answer that could not be read: {exception.GetType().Name}.",
                    yielded ? "stream_broken" : "provider_error", retryable: false, inner: exception);
        }
    }

    private static ModelProviderException FromStatus(int status, string detail, TimeSpan? retryAfter, Exception inner)
    {
        var message = $"Anthropic answered HTTP {status}: {detail}";
        return status switch
        {
            401 or 403 => new ModelProviderException(message, "provider_auth", retryable: false, inner: inner),
            429 => new ModelProviderException(message, "rate_limited", retryable: true, retryAfter, inner),
            500 or 502 or 503 or 504 or 529 => new ModelProviderException(message, "provider_unavailable", retryable: true, retryAfter, inner),
            >= 400 and < 500 => new ModelProviderException(message, "bad_request", retryable: false, inner: inner),
            _ => new ModelProviderException(message, "provider_error", retryable: false, inner: inner),
        };
    }

    /// <summary>"type: message" from the API's error body <c>{"type":"error","error":{"type":...,"message":...}}</c>.</summary>
    private static string ErrorText(JsonElement body, string? apiMessage)
    {
        string? type = null;
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
        {
            if (error.TryGetProperty("type", out var typeElement) && typeElement.ValueKind == JsonValueKind.String)
            {
                type = typeElement.GetString();
            }
            if (apiMessage is null && error.TryGetProperty("message", out var messageElement) && messageElement.ValueKind == JsonValueKind.String)
            {
                apiMessage = messageElement.GetString();
            }
        }
        return (type, apiMessage) switch
        {
            (not null, not null) => $"{type}: {apiMessage}",
            (null, not null) => apiMessage,
            (not null, null) => type,
            _ => "no error message",
        };
    }

    /// <summary>What one streamed answer has said so far: tool calls under construction, usage, whether it ended.</summary>
    private sealed class StreamState
    {
        private readonly Dictionary<long, (string Id, string Name, StringBuilder Input)> _toolCalls = [];
        private long _inputTokens;
        private long _outputTokens;

        public bool Stopped { get; private set; }

        public void Apply(Sdk.RawMessageStreamEvent rawEvent, List<ModelStreamEvent> output)
        {
            if (rawEvent.TryPickContentBlockDelta(out var blockDelta))
            {
                if (blockDelta.Delta.TryPickText(out var text))
                {
                    if (!string.IsNullOrEmpty(text.Text))
                    {
                        output.Add(new TextDelta(text.Text));
                    }
                }
                else if (blockDelta.Delta.TryPickInputJson(out var json) && _toolCalls.TryGetValue(blockDelta.Index, out var call))
                {
                    call.Input.Append(json.PartialJson);
                }
            }
            else if (rawEvent.TryPickContentBlockStart(out var blockStart))
            {
                if (blockStart.ContentBlock.TryPickToolUse(out var toolUse))
                {
                    _toolCalls[blockStart.Index] = (toolUse.ID, toolUse.Name, new StringBuilder());
                }
            }
            else if (rawEvent.TryPickContentBlockStop(out var blockStop))
            {
                if (_toolCalls.Remove(blockStop.Index, out var call))
                {
                    var input = call.Input.Length == 0 ? "{}" : call.Input.ToString();
                    output.Add(new ToolCallRequested(new ToolCall(call.Id, call.Name, input)));
                }
            }
            else if (rawEvent.TryPickStart(out var start))
            {
                _inputTokens = start.Message.Usage.InputTokens;
                _outputTokens = start.Message.Usage.OutputTokens;
            }
            else if (rawEvent.TryPickDelta(out var delta))
            {
                // message_delta counts are cumulative; some API versions repeat the input count here.
                _outputTokens = delta.Usage.OutputTokens;
                if (delta.Usage.InputTokens is { } input)
                {
                    _inputTokens = input;
                }
            }
            else if (rawEvent.TryPickStop(out _))
            {
                output.Add(new UsageReported((int)Math.Min(_inputTokens, int.MaxValue), (int)Math.Min(_outputTokens, int.MaxValue)));
                Stopped = true;
            }
        }
    }

    /// <summary>Remembers the Retry-After of a refused response, which the SDK's exception does not carry.</summary>
    private sealed class FailedResponse
    {
        public TimeSpan? RetryAfter { get; private set; }

        public DelegatingHandler CreateHandler() => Handler.Create(async (request, next, cancellationToken) =>
        {
            var response = await next(request, cancellationToken);
            if (!response.IsSuccessStatusCode && response.Headers.RetryAfter is { } retryAfter)
            {
                RetryAfter = retryAfter.Delta ?? (retryAfter.Date is { } date ? NotNegative(date - DateTimeOffset.UtcNow) : null);
            }
            return response;
        });

        private static TimeSpan NotNegative(TimeSpan wait) => wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
    }
}
