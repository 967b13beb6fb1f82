using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Portal.Agents.Providers;

/// <summary>
/// The chat-completions API of OpenAI and of the servers that speak it (OpenRouter, Ollama, vLLM, LM Studio, reached
/// through <see cref="ProviderEndpoint.BaseUrl"/>), streamed with the OpenAI SDK over the given <see cref="HttpClient"/>.
/// The SDK does not retry: the agent loop decides that from <see cref="ModelProviderException.Retryable"/>. The
/// client's <see cref="HttpClient.Timeout"/> also bounds each read of the stream.
/// </summary>
public sealed class OpenAiCompatibleProvider : IModelProvider
{
    private const int MaxProviderMessageLength = 500;

    private readonly ProviderEndpoint _endpoint;
    private readonly HttpClient _http;
    private readonly Uri? _baseUrl;
    private readonly bool _isOpenAiApi;

    public OpenAiCompatibleProvider(ProviderEndpoint endpoint, HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(http);
        _endpoint = endpoint;
        _http = http;
        // The SDK appends "/chat/completions" to the base URL as it is; a trailing slash would double it.
        _baseUrl = endpoint.BaseUrl is { } baseUrl ? new Uri(baseUrl.AbsoluteUri.TrimEnd('/')) : null;
        _isOpenAiApi = _baseUrl is null
            || _baseUrl.Host.Equals("api.openai.com", StringComparison.OrdinalIgnoreCase)
            || _baseUrl.Host.EndsWith(".openai.azure.com", StringComparison.OrdinalIgnoreCase);
    }

    public string Name => "openai";

    public async IAsyncEnumerable<ModelStreamEvent> StreamAsync(ModelRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var streamEnd = new StreamEndPolicy();
        var client = CreateClient(request.Model, streamEnd);
        var updates = client.CompleteChatStreamingAsync(MapMessages(request), MapOptions(request), cancellationToken);
        var toolCalls = new ToolCallAssembler();
        var yielded = false;
        var finished = false;

        await using var enumerator = updates.GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            StreamingChatCompletionUpdate update;
            try
            {
                if (!await enumerator.MoveNextAsync())
                {
                    break;
                }
                update = enumerator.Current;
            }
            catch (Exception exception) when (IsProviderFailure(exception))
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    if (exception is OperationCanceledException)
                    {
                        throw;
                    }
                    throw new OperationCanceledException("The model request was cancelled.", exception, cancellationToken);
                }
                throw await TranslateAsync(exception, yielded, cancellationToken);
            }

            foreach (var part in update.ContentUpdate)
            {
                if (part.Kind == ChatMessageContentPartKind.Text && !string.IsNullOrEmpty(part.Text))
                {
                    yielded = true;
                    yield return new TextDelta(part.Text);
                }
            }
            // A refusal is the model's answer too; without it the user would see nothing.
            if (!string.IsNullOrEmpty(update.RefusalUpdate))
            {
                yielded = true;
                yield return new TextDelta(update.RefusalUpdate);
            }
            foreach (var toolCallUpdate in update.ToolCallUpdates)
            {
                toolCalls.Add(toolCallUpdate);
            }
            if (update.FinishReason is not null)
            {
                finished = true;
                foreach (var call in toolCalls.TakeCompleted())
                {
                    yielded = true;
                    yield return new ToolCallRequested(call);
                }
            }
            if (update.Usage is { } usage)
            {
                yielded = true;
                yield return new UsageReported(usage.InputTokenCount, usage.OutputTokenCount);
            }
        }

        if (!finished && !streamEnd.SawDone)
        {
            throw new ModelProviderException(
                "The model provider's stream ended before the answer was complete.", "stream_broken", retryable: !yielded);
        }
        foreach (var call in toolCalls.TakeCompleted())
        {
            yield return new ToolCallRequested(call);
        }
    }

    private ChatClient CreateClient(string model, StreamEndPolicy streamEnd)
    {
        var options = new OpenAIClientOptions
        {
            // Over a given client the transport owns nothing; disposing it would not dispose the client.
            Transport = new HttpClientPipelineTransport(_http),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = _http.Timeout,
        };
        if (_baseUrl is not null)
        {
            options.Endpoint = _baseUrl;
        }
        options.AddPolicy(streamEnd, PipelinePosition.PerCall);
        if (string.IsNullOrEmpty(_endpoint.ApiKey))
        {
            // Local servers (Ollama, LM Studio, vLLM without --api-key) take no key. The SDK insists on a credential
            // (its policy-taking constructor is experimental), so a placeholder is set and its header taken off again.
            options.AddPolicy(new NoAuthorizationPolicy(), PipelinePosition.BeforeTransport);
            return new ChatClient(model, new ApiKeyCredential("no-key"), options);
        }
        return new ChatClient(model, new ApiKeyCredential(_endpoint.ApiKey), options);
    }

    private static List<ChatMessage> MapMessages(ModelRequest request)
    {
        var messages = new List<ChatMessage>(request.Messages.Count + 1);
        if (!string.IsNullOrEmpty(request.Instructions))
        {
            messages.Add(new SystemChatMessage(request.Instructions));
        }
        foreach (var message in request.Messages)
        {
            messages.Add(message switch
            {
                UserMessage user => new UserChatMessage(user.Text),
                AssistantMessage assistant => MapAssistant(assistant),
                ToolResultMessage result => new ToolChatMessage(result.CallId, result.Output),
                _ => throw new ArgumentException($"Unknown message type {message.GetType().Name}.", nameof(request)),
            });
        }
        return messages;
    }

    private static AssistantChatMessage MapAssistant(AssistantMessage assistant)
    {
        if (assistant.ToolCalls.Count == 0)
        {
            return new AssistantChatMessage(assistant.Text ?? "");
        }
        var message = new AssistantChatMessage(assistant.ToolCalls.Select(call => ChatToolCall.CreateFunctionToolCall(
            call.CallId, call.Name, BinaryData.FromString(string.IsNullOrWhiteSpace(call.Arguments) ? "{}" : call.Arguments))));
        if (!string.IsNullOrEmpty(assistant.Text))
        {
            message.Content.Add(ChatMessageContentPart.CreateTextPart(assistant.Text));
        }
        return message;
    }

    private ChatCompletionOptions MapOptions(ModelRequest request)
    {
        var options = new ChatCompletionOptions();
        foreach (var tool in request.Tools)
        {
            var parameters = tool.Parameters.ValueKind == JsonValueKind.Undefined
                ? """{"type":"object","properties":{}}"""
                : tool.Parameters.GetRawText();
            options.Tools.Add(ChatTool.CreateFunctionTool(tool.Name, tool.Description, BinaryData.FromString(parameters)));
        }
        if (request.Temperature is { } temperature)
        {
            options.Temperature = (float)temperature;
        }
        if (request.MaxTokens is { } maxTokens)
        {
            if (_isOpenAiApi)
            {
                // OpenAI's current name; its reasoning models refuse max_tokens.
                options.MaxOutputTokenCount = maxTokens;
            }
            else
            {
                // Ollama and LM Studio know only max_tokens (vLLM and OpenRouter take both). JsonPatch is the SDK's one
                // way to send it, and still marked experimental.
#pragma warning disable SCME0001
                options.Patch.Set("$.max_tokens"u8, maxTokens);
#pragma warning restore SCME0001
            }
        }
        return options;
    }

    private static bool IsProviderFailure(Exception exception) =>
        exception is ClientResultException or HttpRequestException or IOException or OperationCanceledException or JsonException;

    private async Task<ModelProviderException> TranslateAsync(Exception exception, bool yielded, CancellationToken cancellationToken)
    {
        var retryable = !yielded;
        switch (exception)
        {
            case ClientResultException { Status: > 0 } refused:
                return await FromStatusAsync(refused, retryable, cancellationToken);
            case ClientResultException unreachable:
                return new ModelProviderException(
                    $"The model provider could not be reached: {(unreachable.InnerException ?? unreachable).Message}",
                    "provider_unavailable", retryable, inner: exception);
            case OperationCanceledException:
                return new ModelProviderException("The model provider did not answer in time.", "timeout", retryable, inner: exception);
            case HttpRequestException when !yielded:
                return new ModelProviderException(
                    $"The model provider could not be reached: {exception.Message}", "provider_unavailable", retryable, inner: exception);
            case HttpRequestException or IOException:
                return new ModelProviderException(
                    $"The model provider's stream broke: {exception.Message}", "stream_broken", retryable, inner: exception);
            default:
                return new ModelProviderException(
                    $"The model provider sent a malformed stream: {exception.Message}", "provider_error", retryable: false, inner: exception);
        }
    }

    private async Task<ModelProviderException> FromStatusAsync(ClientResultException refused, bool retryable, CancellationToken cancellationToken)
    {
        var response = refused.GetRawResponse();
        var providerMessage = response is null ? null : await ReadProviderMessageAsync(response, cancellationToken);
        var status = refused.Status;
        var (code, mayRetry) = status switch
        {
            401 or 403 => ("provider_auth", false),
            408 => ("timeout", true),
            429 => ("rate_limited", true),
            500 or 502 or 503 or 504 => ("provider_unavailable", true),
            >= 400 and < 500 => ("bad_request", false),
            _ => ("provider_error", false),
        };
        var message = $"The model provider answered HTTP {status.ToString(CultureInfo.InvariantCulture)}"
            + (string.IsNullOrEmpty(providerMessage) ? "." : $": {providerMessage}");
        var retryAfter = status == 429 && response is not null ? ReadRetryAfter(response.Headers) : null;
        return new ModelProviderException(message, code, retryable && mayRetry, retryAfter, refused);
    }

    /// <summary>The provider's own explanation: OpenAI's {"error":{"message":...}}, or the shapes compatible servers use.</summary>
    private async Task<string?> ReadProviderMessageAsync(PipelineResponse response, CancellationToken cancellationToken)
    {
        BinaryData content;
        try
        {
            content = await response.BufferContentAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is IOException or HttpRequestException or InvalidOperationException or ObjectDisposedException)
        {
            return null;
        }
        string? message = null;
        try
        {
            using var document = JsonDocument.Parse(content);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("error", out var error))
                {
                    message = error.ValueKind switch
                    {
                        JsonValueKind.Object when error.TryGetProperty("message", out var text) && text.ValueKind == JsonValueKind.String => text.GetString(),
                        JsonValueKind.String => error.GetString(),
                        _ => null,
                    };
                }
                else if (root.TryGetProperty("message", out var text) && text.ValueKind == JsonValueKind.String)
                {
                    message = text.GetString();
                }
                else if (root.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.String)
                {
                    message = detail.GetString();
                }
            }
        }
        catch (JsonException)
        {
            // A proxy's HTML or plain-text page: show its start.
            message = content.ToString();
        }
        if (string.IsNullOrWhiteSpace(message))
        {
            return null;
        }
        message = message.Trim();
        if (_endpoint.ApiKey.Length >= 8)
        {
            message = message.Replace(_endpoint.ApiKey, "[redacted]", StringComparison.Ordinal);
        }
        return message.Length <= MaxProviderMessageLength ? message : message[..MaxProviderMessageLength] + "…";
    }

    private static TimeSpan? ReadRetryAfter(PipelineResponseHeaders headers)
    {
        if (headers.TryGetValue("retry-after-ms", out var milliseconds)
            && double.TryParse(milliseconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms >= 0)
        {
            return TimeSpan.FromMilliseconds(ms);
        }
        if (headers.TryGetValue("retry-after", out var retryAfter) && retryAfter is not null)
        {
            if (double.TryParse(retryAfter, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
            {
                return TimeSpan.FromSeconds(seconds);
            }
            if (DateTimeOffset.TryParse(retryAfter, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
            {
                var wait = date - DateTimeOffset.UtcNow;
                return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
            }
        }
        return null;
    }

    /// <summary>
    /// Assembles streamed tool calls: the first piece of each carries its index, id and name, later pieces carry the
    /// index and more of the arguments. Some compatible servers send every call whole at index 0; a new id there is a
    /// new call.
    /// </summary>
    private sealed class ToolCallAssembler
    {
        private readonly List<PendingCall> _calls = [];
        private readonly Dictionary<int, PendingCall> _byIndex = [];

        public void Add(StreamingChatToolCallUpdate update)
        {
            if (!_byIndex.TryGetValue(update.Index, out var call)
                || (update.ToolCallId is { Length: > 0 } id && call.Id is { Length: > 0 } && id != call.Id))
            {
                call = new PendingCall();
                _calls.Add(call);
                _byIndex[update.Index] = call;
            }
            if (!string.IsNullOrEmpty(update.ToolCallId))
            {
                call.Id = update.ToolCallId;
            }
            if (!string.IsNullOrEmpty(update.FunctionName))
            {
                call.Name += update.FunctionName;
            }
            if (update.FunctionArgumentsUpdate is { } arguments)
            {
                call.Arguments.Append(arguments.ToString());
            }
        }

        /// <summary>The calls assembled so far, in the order they began; the assembler is empty afterwards.</summary>
        public List<ToolCall> TakeCompleted()
        {
            var completed = _calls.Select((call, position) => new ToolCall(
                string.IsNullOrEmpty(call.Id) ? $"call_{position.ToString(CultureInfo.InvariantCulture)}" : call.Id,
                call.Name,
                call.Arguments.Length == 0 ? "{}" : call.Arguments.ToString())).ToList();
            _calls.Clear();
            _byIndex.Clear();
            return completed;
        }

        private sealed class PendingCall
        {
            public string? Id { get; set; }
            public string Name { get; set; } = "";
            public StringBuilder Arguments { get; } = new();
        }
    }

    /// <summary>
    /// Watches the response body for the <c>data: [DONE]</c> line: the SDK ends its enumeration quietly both there and
    /// where a connection just ends, and only the first is a complete answer.
    /// </summary>
    private sealed class StreamEndPolicy : PipelinePolicy
    {
        private volatile bool _sawDone;

        public bool SawDone => _sawDone;

        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            ProcessNext(message, pipeline, currentIndex);
            Watch(message);
        }

        public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            await ProcessNextAsync(message, pipeline, currentIndex);
            Watch(message);
        }

        private void Watch(PipelineMessage message)
        {
            if (message.Response is { IsError: false, ContentStream: { } body } response)
            {
                response.ContentStream = new DoneWatchingStream(body, this);
            }
        }

        private void OnDone() => _sawDone = true;

        private sealed class DoneWatchingStream(Stream inner, StreamEndPolicy owner) : Stream
        {
            private static readonly byte[] DoneLine = "data: [DONE]"u8.ToArray();
            private static readonly byte[] DoneLineNoSpace = "data:[DONE]"u8.ToArray();

            private readonly byte[] _line = new byte[DoneLine.Length];
            private int _lineLength;
            private bool _lineTooLong;

            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

            public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

            public override int Read(Span<byte> buffer)
            {
                var read = inner.Read(buffer);
                Observe(buffer[..read]);
                return read;
            }

            public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

            public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            {
                var read = await inner.ReadAsync(buffer, cancellationToken);
                Observe(buffer.Span[..read]);
                return read;
            }

            private void Observe(ReadOnlySpan<byte> bytes)
            {
                if (bytes.IsEmpty)
                {
                    EndLine();
                    return;
                }
                foreach (var b in bytes)
                {
                    if (b is (byte)'\n' or (byte)'\r')
                    {
                        EndLine();
                    }
                    else if (_lineLength < _line.Length)
                    {
                        _line[_lineLength++] = b;
                    }
                    else
                    {
                        _lineTooLong = true;
                    }
                }
            }

            private void EndLine()
            {
                var line = _line.AsSpan(0, _lineLength);
                if (!_lineTooLong && (line.SequenceEqual(DoneLine) || line.SequenceEqual(DoneLineNoSpace)))
                {
                    owner.OnDone();
                }
                _lineLength = 0;
                _lineTooLong = false;
            }

            public override void Flush()
            {
            }

            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    inner.Dispose();
                }
                base.Dispose(disposing);
            }

            public override async ValueTask DisposeAsync()
            {
                await inner.DisposeAsync();
                await base.DisposeAsync();
            }
        }
    }

    /// <summary>Takes the placeholder key's Authorization header off requests to servers that take no key.</summary>
    private sealed class NoAuthorizationPolicy : PipelinePolicy
    {
        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            message.Request.Headers.Remove("Authorization");
            ProcessNext(message, pipeline, currentIndex);
        }

        public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            message.Request.Headers.Remove("Authorization");
            return ProcessNextAsync(message, pipeline, currentIndex);
        }
    }
}
