using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Portal.Testing.Fakes;

/// <summary>
/// OpenAI's chat-completions endpoint (<c>POST /v1/chat/completions</c>) as a stream: chunks of
/// <c>chat.completion.chunk</c> in server-sent events, tool calls as indexed deltas whose arguments come in pieces, a
/// final chunk with the finish reason, the usage chunk when the request asked for it, and <c>data: [DONE]</c>.
/// Requests without a bearer key, or with another key than <see cref="ExpectedApiKey"/>, get OpenAI's 401.
/// </summary>
public sealed class FakeOpenAiServer : FakeModelServer
{
    private static readonly TimeSpan BreakGrace = TimeSpan.FromMilliseconds(250);

    /// <summary>When set, only this key is accepted.</summary>
    public string? ExpectedApiKey { get; set; }

    /// <summary>False for a local server (Ollama, LM Studio) that takes requests without a key.</summary>
    public bool RequireApiKey { get; set; } = true;

    /// <summary>False to end answers without the chunk carrying finish_reason, as some compatible servers do.</summary>
    public bool SendFinishReason { get; set; } = true;

    /// <summary>False to end answers without <c>data: [DONE]</c> (the response itself still ends properly).</summary>
    public bool SendDone { get; set; } = true;

    private FakeOpenAiServer()
    {
    }

    public static new async Task<FakeOpenAiServer> StartAsync()
    {
        var server = new FakeOpenAiServer();
        await server.BootAsync();
        return server;
    }

    private Task BootAsync() => base.StartAsync();

    protected override void Map(WebApplication app) =>
        app.MapPost("/v1/chat/completions", (Delegate)((HttpContext context) => AnswerAsync(context)));

    private async Task AnswerAsync(HttpContext context)
    {
        var authorization = context.Request.Headers.Authorization.ToString();
        var key = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..].Trim() : "";
        if (RequireApiKey && (key.Length == 0 || (ExpectedApiKey is not null && key != ExpectedApiKey)))
        {
            var message = key.Length == 0
                ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                : $"Incorrect API key provided: {Mask(key)}. You can find your API key at https://platform.openai.com/account/api-keys.";
            await WriteErrorAsync(context, ModelScript.Failure(StatusCodes.Status401Unauthorized, message));
            return;
        }
        await ServeAsync(context);
    }

    protected override async Task WriteErrorAsync(HttpContext context, ModelScript script)
    {
        var status = script.HttpStatus ?? StatusCodes.Status500InternalServerError;
        var (type, code) = status switch
        {
            400 => ("invalid_request_error", (string?)null),
            401 => ("invalid_api_key", "invalid_api_key"),
            403 => ("permission_error", "unsupported_country_region_territory"),
            404 => ("invalid_request_error", "model_not_found"),
            429 => ("rate_limit_exceeded", "rate_limit_exceeded"),
            >= 500 => ("server_error", null),
            _ => ("invalid_request_error", null),
        };
        context.Response.StatusCode = status;
        await context.Response.WriteAsJsonAsync(new { error = new { message = script.ErrorMessage, type, param = (string?)null, code } },
            context.RequestAborted);
    }

    protected override async Task WriteStreamAsync(HttpContext context, ModelScript script, JsonElement request)
    {
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var model = request.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : "gpt-4o-mini";
        var includeUsage = request.TryGetProperty("stream_options", out var streamOptions)
            && streamOptions.ValueKind == JsonValueKind.Object
            && streamOptions.TryGetProperty("include_usage", out var include) && include.ValueKind == JsonValueKind.True;

        // With include_usage, OpenAI puts "usage": null on every chunk but the last.
        Task WriteAsync(object delta, string? finishReason = null) =>
            WriteChunkAsync(context, script, Event(includeUsage
                ? new
                {
                    id, @object = "chat.completion.chunk", created, model, system_fingerprint = "fp_fake",
                    choices = new[] { new { index = 0, delta, logprobs = (object?)null, finish_reason = finishReason } },
                    usage = (object?)null,
                }
                : new
                {
                    id, @object = "chat.completion.chunk", created, model, system_fingerprint = "fp_fake",
                    choices = new[] { new { index = 0, delta, logprobs = (object?)null, finish_reason = finishReason } },
                }));

        await WriteAsync(new { role = "assistant", content = "", refusal = (string?)null });
        var toolIndex = 0;
        UsageStep? usage = null;
        foreach (var step in script.Steps)
        {
            switch (step)
            {
                case TextChunk text:
                    await WriteAsync(new { content = text.Text });
                    break;
                case ToolCallStep call:
                    var index = toolIndex++;
                    await WriteAsync(new
                    {
                        tool_calls = new[] { new { index, id = call.CallId, type = "function", function = new { name = call.Name, arguments = "" } } },
                    });
                    foreach (var piece in Split(call.ArgumentsJson, call.Pieces))
                    {
                        await WriteAsync(new { tool_calls = new[] { new { index, function = new { arguments = piece } } } });
                    }
                    break;
                case UsageStep reported:
                    usage = reported;
                    break;
                case BreakStep:
                    // Abort resets the connection, and a reset throws away what the client has not read yet: give it
                    // a moment to take in the chunks already sent, as a client of a real server would have.
                    await Task.Delay(BreakGrace, context.RequestAborted);
                    context.Abort();
                    return;
            }
        }
        if (SendFinishReason)
        {
            await WriteAsync(new { }, toolIndex > 0 ? "tool_calls" : "stop");
        }
        if (includeUsage && usage is not null)
        {
            await WriteChunkAsync(context, script, Event(new
            {
                id, @object = "chat.completion.chunk", created, model, system_fingerprint = "fp_fake",
                choices = Array.Empty<object>(),
                usage = new
                {
                    prompt_tokens = usage.InputTokens,
                    completion_tokens = usage.OutputTokens,
                    total_tokens = usage.InputTokens + usage.OutputTokens,
                },
            }));
        }
        if (SendDone)
        {
            await WriteChunkAsync(context, script, "data: [DONE]\n\n");
        }
    }

    private static string Event(object chunk) => "data: " + JsonSerializer.Serialize(chunk) + "\n\n";

    /// <summary>Cuts the text into <paramref name="pieces"/> parts of about equal length (fewer when it is shorter).</summary>
    private static IEnumerable<string> Split(string text, int pieces)
    {
        var size = Math.Max(1, (int)Math.Ceiling(text.Length / (double)Math.Max(1, pieces)));
        for (var start = 0; start < text.Length; start += size)
        {
            yield return text.Substring(start, Math.Min(size, text.Length - start));
        }
    }

    private static string Mask(string key) =>
        key.Length <= 8 ? "****" : string.Create(CultureInfo.InvariantCulture, $"{key[..3]}****{key[^4..]}");
}
