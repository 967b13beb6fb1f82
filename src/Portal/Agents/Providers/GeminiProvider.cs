using System.Collections.Frozen;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Portal.Agents.Providers;

/// <summary>
/// Google Gemini through the Generative Language API: <c>streamGenerateContent?alt=sse</c>, read as it arrives. Every
/// server-sent event is a whole GenerateContentResponse; function calls come whole, never in pieces.
/// </summary>
public sealed class GeminiProvider : IModelProvider
{
    private static readonly Uri DefaultBaseUrl = new("https://generativelanguage.googleapis.com");

    // Gemini's Schema is an OpenAPI subset and answers 400 to any other keyword, so parameters keep only these.
    private static readonly FrozenSet<string> SchemaKeywords = FrozenSet.ToFrozenSet(
    [
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
        "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
        "default", "items", "minimum", "maximum",
    ]);

    private static readonly FrozenSet<string> SchemaFormats = FrozenSet.ToFrozenSet(["enum", "date-time", "float", "double", "int32", "int64"]);

    // Gemini 3 answers 400 to a replayed function call without the thought signature it issued with it. ToolCall has
    // no room for that signature, so history carries the value Google documents for turns it did not produce.
    private const string SkipThoughtSignature = "skip_thought_signature_validator";

    private readonly ProviderEndpoint _endpoint;
    private readonly HttpClient _http;

    public GeminiProvider(ProviderEndpoint endpoint, HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(http);
        _endpoint = endpoint;
        _http = http;
    }

    public string Name => "google";

    public async IAsyncEnumerable<ModelStreamEvent> StreamAsync(ModelRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var response = await SendAsync(request, cancellationToken);
        var state = new StreamState();
        try
        {
            while (await NextEventAsync(response, state, cancellationToken) is { } data)
            {
                foreach (var item in ReadEvent(data, state))
                {
                    state.Yielded = true;
                    yield return item;
                }
            }
        }
        finally
        {
            if (state.Events is not null)
            {
                await state.Events.DisposeAsync();
            }
        }
        if (!state.Finished)
        {
            throw new ModelProviderException("Gemini's stream ended before the answer was complete.", "stream_broken", !state.Yielded);
        }
        if (state.Usage is { } usage)
        {
            yield return usage;
        }
    }

    private async Task<HttpResponseMessage> SendAsync(ModelRequest request, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, StreamUri(request.Model))
        {
            Content = new StringContent(BuildBody(request).ToJsonString(), Encoding.UTF8, "application/json"),
        };
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (!string.IsNullOrEmpty(_endpoint.ApiKey))
        {
            // In a header, not in ?key=, so the key never lands in a logged URL.
            message.Headers.TryAddWithoutValidation("x-goog-api-key", _endpoint.ApiKey);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ModelProviderException("Gemini did not answer in time.", "timeout", retryable: true, inner: ex);
        }
        catch (HttpRequestException ex)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new ModelProviderException($"Gemini could not be reached: {Redact(ex.Message)}", "provider_unavailable", retryable: true, inner: ex);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }
        using (response)
        {
            throw await RefusalAsync(response, cancellationToken);
        }
    }

    private Uri StreamUri(string model)
    {
        var name = model.StartsWith("models/", StringComparison.Ordinal) ? model["models/".Length..] : model;
        var root = (_endpoint.BaseUrl ?? DefaultBaseUrl).AbsoluteUri.TrimEnd('/');
        return new Uri($"{root}/v1beta/models/{Uri.EscapeDataString(name)}:streamGenerateContent?alt=sse");
    }

    private static async Task<string?> NextEventAsync(HttpResponseMessage response, StreamState state, CancellationToken cancellationToken)
    {
        try
        {
            state.Events ??= SseParser.Create(await response.Content.ReadAsStreamAsync(cancellationToken))
                .EnumerateAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
            while (await state.Events.MoveNextAsync())
            {
                if (!string.IsNullOrWhiteSpace(state.Events.Current.Data))
                {
                    return state.Events.Current.Data;
                }
            }
            return null;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw ex is OperationCanceledException
                ? new ModelProviderException("Gemini stopped sending before the answer was complete (timed out).", "timeout", !state.Yielded, inner: ex)
                : new ModelProviderException("The connection to Gemini broke before the answer was complete.", "stream_broken", !state.Yielded, inner: ex);
        }
    }

    private List<ModelStreamEvent> ReadEvent(string data, StreamState state)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(data);
        }
        catch (JsonException ex)
        {
            throw new ModelProviderException("Gemini sent an event that is not JSON.", "stream_broken", !state.Yielded, inner: ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ModelProviderException("Gemini sent an event that is not a response object.", "stream_broken", !state.Yielded);
            }
            if (Object(root, "error") is { } error)
            {
                var status = Int(error, "code");
                var details = ReadErrorDetails(error);
                var (code, retryable) = Classify(status, details);
                throw new ModelProviderException($"Gemini failed mid-stream ({status} {String(error, "status")}): {Redact(String(error, "message"))}",
                    code, retryable && !state.Yielded, code == "rate_limited" ? details.RetryDelay : null);
            }
            if (Object(root, "promptFeedback") is { } feedback && String(feedback, "blockReason") is { Length: > 0 } reason)
            {
                var why = String(feedback, "blockReasonMessage");
                throw new ModelProviderException($"Gemini blocked the prompt ({reason}){(why is null ? "." : $": {why}")}", "blocked", retryable: false);
            }
            if (Object(root, "usageMetadata") is { } usage)
            {
                // Thinking tokens are billed as output but not counted in candidatesTokenCount.
                state.Usage = new UsageReported(Int(usage, "promptTokenCount"),
                    Int(usage, "candidatesTokenCount") + Int(usage, "thoughtsTokenCount"));
            }

            var events = new List<ModelStreamEvent>();
            if (root.TryGetProperty("candidates", out var candidates) && candidates.ValueKind == JsonValueKind.Array
                && candidates.GetArrayLength() > 0 && candidates[0].ValueKind == JsonValueKind.Object)
            {
                var candidate = candidates[0];
                if (Object(candidate, "content") is { } content && content.TryGetProperty("parts", out var parts)
                    && parts.ValueKind == JsonValueKind.Array)
                {
                    foreach (var part in parts.EnumerateArray())
                    {
                        if (part.ValueKind == JsonValueKind.Object && ReadPart(part) is { } item)
                        {
                            events.Add(item);
                        }
                    }
                }
                // SAFETY, RECITATION, MAX_TOKENS... end the answer as STOP does: what came so far is what there is.
                if (String(candidate, "finishReason") is { Length: > 0 })
                {
                    state.Finished = true;
                }
            }
            return events;
        }
    }

    private static ModelStreamEvent? ReadPart(JsonElement part)
    {
        if (part.TryGetProperty("thought", out var thought) && thought.ValueKind == JsonValueKind.True)
        {
            return null;
        }
        if (Object(part, "functionCall") is { } call)
        {
            var arguments = Object(call, "args") is { } args ? args.GetRawText() : "{}";
            var id = String(call, "id") is { Length: > 0 } given ? given : $"call_{Guid.NewGuid():N}";
            return new ToolCallRequested(new ToolCall(id, String(call, "name") ?? "", arguments));
        }
        return String(part, "text") is { Length: > 0 } text ? new TextDelta(text) : null;
    }

    private async Task<ModelProviderException> RefusalAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        string body;
        try
        {
            body = await response.Content.ReadAsStringAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            body = "";
        }

        string? message = null;
        string? apiStatus = null;
        var details = new ErrorDetails(null, null);
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object && Object(document.RootElement, "error") is { } error)
            {
                message = String(error, "message");
                apiStatus = String(error, "status");
                details = ReadErrorDetails(error);
            }
        }
        catch (JsonException)
        {
            // Not Google's error shape (a proxy's page, say): the text itself is the best message there is.
        }
        message ??= body.Length > 0 ? body[..Math.Min(body.Length, 500)] : response.ReasonPhrase ?? "no message";
        var (code, retryable) = Classify(status, details);
        return new ModelProviderException($"Gemini answered {status}{(apiStatus is null ? "" : $" {apiStatus}")}: {Redact(message)}",
            code, retryable, code == "rate_limited" ? RetryAfterHeader(response.Headers.RetryAfter) ?? details.RetryDelay : null);
    }

    private static (string Code, bool Retryable) Classify(int status, ErrorDetails details) => status switch
    {
        401 or 403 => ("provider_auth", false),
        // A wrong key is a 400 INVALID_ARGUMENT whose ErrorInfo says API_KEY_INVALID.
        400 when details.Reason == "API_KEY_INVALID" => ("provider_auth", false),
        429 => ("rate_limited", true),
        500 or 502 or 503 or 504 => ("provider_unavailable", true),
        >= 400 and < 500 => ("bad_request", false),
        _ => ("provider_error", false),
    };

    private static ErrorDetails ReadErrorDetails(JsonElement error)
    {
        string? reason = null;
        TimeSpan? retryDelay = null;
        if (error.TryGetProperty("details", out var details) && details.ValueKind == JsonValueKind.Array)
        {
            foreach (var detail in details.EnumerateArray().Where(d => d.ValueKind == JsonValueKind.Object))
            {
                var type = String(detail, "@type") ?? "";
                if (type.EndsWith("google.rpc.ErrorInfo", StringComparison.Ordinal))
                {
                    reason ??= String(detail, "reason");
                }
                else if (type.EndsWith("google.rpc.RetryInfo", StringComparison.Ordinal))
                {
                    retryDelay ??= ParseDuration(String(detail, "retryDelay"));
                }
            }
        }
        return new ErrorDetails(reason, retryDelay);
    }

    /// <summary>A protobuf Duration in JSON: seconds with an "s", such as "7s" or "0.5s".</summary>
    private static TimeSpan? ParseDuration(string? value) =>
        value is { Length: > 1 } && value.EndsWith('s')
            && double.TryParse(value[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? TimeSpan.FromSeconds(seconds)
            : null;

    private static TimeSpan? RetryAfterHeader(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > DateTimeOffset.UtcNow ? date - DateTimeOffset.UtcNow : TimeSpan.Zero,
        _ => null,
    };

    private string Redact(string? text) =>
        string.IsNullOrEmpty(text) || string.IsNullOrEmpty(_endpoint.ApiKey)
            ? text ?? ""
            : text.Replace(_endpoint.ApiKey, "[key]", StringComparison.Ordinal);

    private static JsonObject BuildBody(ModelRequest request)
    {
        var body = new JsonObject { ["contents"] = BuildContents(request.Messages) };
        if (!string.IsNullOrWhiteSpace(request.Instructions))
        {
            body["systemInstruction"] = new JsonObject { ["parts"] = new JsonArray(new JsonObject { ["text"] = request.Instructions }) };
        }
        if (request.Tools.Count > 0)
        {
            var declarations = new JsonArray();
            foreach (var tool in request.Tools)
            {
                declarations.Add(BuildDeclaration(tool));
            }
            body["tools"] = new JsonArray(new JsonObject { ["functionDeclarations"] = declarations });
        }
        if (request.Temperature is not null || request.MaxTokens is not null)
        {
            var config = new JsonObject();
            if (request.Temperature is { } temperature)
            {
                config["temperature"] = temperature;
            }
            if (request.MaxTokens is { } maxTokens)
            {
                config["maxOutputTokens"] = maxTokens;
            }
            body["generationConfig"] = config;
        }
        return body;
    }

    private static JsonArray BuildContents(IReadOnlyList<ModelMessage> messages)
    {
        var contents = new JsonArray();
        JsonArray? functionResponses = null;
        foreach (var message in messages)
        {
            if (message is ToolResultMessage result)
            {
                // The answers to one model turn's calls go back together, as one user content.
                if (functionResponses is null)
                {
                    functionResponses = [];
                    contents.Add(Content("user", functionResponses));
                }
                functionResponses.Add(new JsonObject
                {
                    ["functionResponse"] = new JsonObject
                    {
                        ["id"] = result.CallId,
                        ["name"] = result.Name,
                        ["response"] = ToolOutput(result.Output),
                    },
                });
                continue;
            }

            functionResponses = null;
            switch (message)
            {
                case UserMessage user:
                    contents.Add(Content("user", [new JsonObject { ["text"] = user.Text }]));
                    break;
                case AssistantMessage assistant:
                    var parts = new JsonArray();
                    var signed = false;
                    if (!string.IsNullOrEmpty(assistant.Text))
                    {
                        parts.Add(new JsonObject { ["text"] = assistant.Text });
                    }
                    foreach (var call in assistant.ToolCalls)
                    {
                        var arguments = call.ParsedArguments();
                        var part = new JsonObject
                        {
                            ["functionCall"] = new JsonObject
                            {
                                ["id"] = call.CallId,
                                ["name"] = call.Name,
                                ["args"] = arguments.ValueKind == JsonValueKind.Object ? JsonNode.Parse(arguments.GetRawText()) : new JsonObject(),
                            },
                        };
                        // Only the first call of a turn carries a signature, as in Gemini's own answers.
                        if (!signed)
                        {
                            part["thoughtSignature"] = SkipThoughtSignature;
                            signed = true;
                        }
                        parts.Add(part);
                    }
                    if (parts.Count > 0)
                    {
                        contents.Add(Content("model", parts));
                    }
                    break;
            }
        }
        return contents;
    }

    private static JsonObject Content(string role, JsonArray parts) => new() { ["role"] = role, ["parts"] = parts };

    /// <summary>A function response must be an object: JSON objects go as they are, anything else as {"output": text}.</summary>
    private static JsonObject ToolOutput(string output)
    {
        try
        {
            if (JsonNode.Parse(output) is JsonObject json)
            {
                return json;
            }
        }
        catch (JsonException)
        {
            // Plain text.
        }
        return new JsonObject { ["output"] = output };
    }

    private static JsonObject BuildDeclaration(ToolDefinition tool)
    {
        var declaration = new JsonObject { ["name"] = tool.Name };
        if (!string.IsNullOrEmpty(tool.Description))
        {
            declaration["description"] = tool.Description;
        }
        if (tool.Parameters.ValueKind != JsonValueKind.Object)
        {
            return declaration;
        }
        var parameters = CleanSchema(JsonNode.Parse(tool.Parameters.GetRawText())!.AsObject());
        // An object without properties is refused ("properties: should be non-empty for OBJECT type"); leaving the
        // parameters out says the same thing.
        var noProperties = string.Equals(Text(parameters["type"]), "object", StringComparison.OrdinalIgnoreCase)
            && parameters["properties"] is not JsonObject { Count: > 0 };
        if (!noProperties)
        {
            declaration["parameters"] = parameters;
        }
        return declaration;
    }

    /// <summary>Rewrites a JSON schema into the subset Gemini accepts, recursively, in place.</summary>
    private static JsonObject CleanSchema(JsonObject schema)
    {
        if (schema["const"] is JsonValue constant && !schema.ContainsKey("enum"))
        {
            schema["enum"] = new JsonArray(constant.DeepClone());
        }
        if (schema["oneOf"] is JsonArray oneOf && !schema.ContainsKey("anyOf"))
        {
            schema.Remove("oneOf");
            schema["anyOf"] = oneOf;
        }
        if (schema["type"] is JsonArray types)
        {
            // ["string", "null"] is how JSON schema says nullable; Gemini takes one type and a flag.
            var names = types.Select(Text).OfType<string>().ToList();
            schema["type"] = names.FirstOrDefault(n => n != "null") ?? "string";
            if (names.Contains("null"))
            {
                schema["nullable"] = true;
            }
        }
        if (schema.ContainsKey("format") && !(Text(schema["format"]) is { } format && SchemaFormats.Contains(format)))
        {
            schema.Remove("format");
        }
        foreach (var key in schema.Select(p => p.Key).Where(k => !SchemaKeywords.Contains(k)).ToList())
        {
            schema.Remove(key);
        }

        if (schema["properties"] is JsonObject properties)
        {
            foreach (var property in properties)
            {
                if (property.Value is JsonObject child)
                {
                    CleanSchema(child);
                }
            }
        }
        if (schema["items"] is JsonObject items)
        {
            CleanSchema(items);
        }
        if (schema["anyOf"] is JsonArray anyOf)
        {
            foreach (var child in anyOf.OfType<JsonObject>())
            {
                CleanSchema(child);
            }
        }
        return schema;
    }

    private static string? Text(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static JsonElement? Object(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value : null;

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static int Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) ? number : 0;

    private sealed record ErrorDetails(string? Reason, TimeSpan? RetryDelay);

    private sealed class StreamState
    {
        public IAsyncEnumerator<SseItem<string>>? Events { get; set; }
        public bool Yielded { get; set; }
        public bool Finished { get; set; }
        public UsageReported? Usage { get; set; }
    }
}
