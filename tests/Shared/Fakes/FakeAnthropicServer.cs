using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Portal.Testing.Fakes;

/// <summary>An <c>error</c> event inside an Anthropic stream (sent when the API overloads mid-answer); the stream ends there.</summary>
public sealed record StreamErrorStep(string ErrorType = "overloaded_error", string Message = "Overloaded") : ScriptStep;

/// <summary>
/// The Anthropic Messages API at <c>POST /v1/messages</c>: checks the key (<c>x-api-key</c> or a bearer token) and
/// the <c>anthropic-version</c> header, streams the script as the real server-sent events (message_start, ping, content blocks with text and
/// input_json deltas, message_delta, message_stop), and refuses with the API's error body.
/// </summary>
public sealed class FakeAnthropicServer : FakeModelServer
{
    public const string ApiKey = "sk-ant-fake-test-key-0123456789";
    public const string ModelName = "claude-fake-1";

    private FakeAnthropicServer()
    {
    }

    public static new async Task<FakeAnthropicServer> StartAsync()
    {
        var server = new FakeAnthropicServer();
        await server.StartServerAsync();
        return server;
    }

    // The static StartAsync above hides the base's instance one, which starts Kestrel.
    private Task StartServerAsync() => base.StartAsync();

    protected override void Map(WebApplication app) => app.MapPost("/v1/messages", async context =>
    {
        if (string.IsNullOrEmpty(ApiKeyOf(context.Request.Headers)))
        {
            await WriteErrorBodyAsync(context, StatusCodes.Status401Unauthorized, "authentication_error", "x-api-key header is required");
            return;
        }
        if (string.IsNullOrEmpty(context.Request.Headers["anthropic-version"]))
        {
            await WriteErrorBodyAsync(context, StatusCodes.Status400BadRequest, "invalid_request_error", "anthropic-version: header is required");
            return;
        }
        await ServeAsync(context);
    });

    /// <summary>
    /// The key a request authenticated with: the <c>x-api-key</c> header, or the bearer token that SDK versions from 13
    /// on send instead (with a newer <c>anthropic-version</c>).
    /// </summary>
    public static string? ApiKeyOf(IHeaderDictionary headers)
    {
        var key = headers["x-api-key"].ToString();
        if (!string.IsNullOrEmpty(key))
        {
            return key;
        }
        var authorization = headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : null;
    }

    protected override Task WriteErrorAsync(HttpContext context, ModelScript script)
    {
        var status = script.HttpStatus ?? StatusCodes.Status500InternalServerError;
        var type = status switch
        {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            >= 500 => "api_error",
            _ => "invalid_request_error",
        };
        return WriteErrorBodyAsync(context, status, type, script.ErrorMessage);
    }

    protected override async Task WriteStreamAsync(HttpContext context, ModelScript script, JsonElement request)
    {
        var usage = script.Steps.OfType<UsageStep>().LastOrDefault() ?? new UsageStep(0, 0);
        var model = request.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : ModelName;
        await WriteEventAsync(context, "message_start", new
        {
            type = "message_start",
            message = new
            {
                id = "msg_" + Guid.NewGuid().ToString("N")[..24],
                type = "message",
                role = "assistant",
                model,
                content = Array.Empty<object>(),
                stop_reason = (string?)null,
                stop_sequence = (string?)null,
                usage = new { input_tokens = usage.InputTokens, output_tokens = 1 },
            },
        });
        await WriteEventAsync(context, "ping", new { type = "ping" });

        var index = 0;
        var textOpen = false;
        var calledTool = false;
        foreach (var step in script.Steps)
        {
            switch (step)
            {
                case TextChunk chunk:
                    if (!textOpen)
                    {
                        await WriteEventAsync(context, "content_block_start",
                            new { type = "content_block_start", index, content_block = new { type = "text", text = "" } });
                        textOpen = true;
                    }
                    await WriteChunkAsync(context, script, Delta(index, new { type = "text_delta", text = chunk.Text }));
                    break;
                case ToolCallStep call:
                    if (textOpen)
                    {
                        await WriteEventAsync(context, "content_block_stop", new { type = "content_block_stop", index });
                        textOpen = false;
                        index++;
                    }
                    await WriteEventAsync(context, "content_block_start", new
                    {
                        type = "content_block_start",
                        index,
                        content_block = new { type = "tool_use", id = call.CallId, name = call.Name, input = new { } },
                    });
                    foreach (var piece in Split(call.ArgumentsJson, call.Pieces))
                    {
                        await WriteChunkAsync(context, script, Delta(index, new { type = "input_json_delta", partial_json = piece }));
                    }
                    await WriteEventAsync(context, "content_block_stop", new { type = "content_block_stop", index });
                    index++;
                    calledTool = true;
                    break;
                case StreamErrorStep error:
                    var data = new { type = "error", error = new { type = error.ErrorType, message = error.Message } };
                    await WriteChunkAsync(context, script, Frame("error", data));
                    return;
                case BreakStep:
                    // An abort resets the connection, and a reset throws away what the client has not read yet: the
                    // pause lets the events already sent arrive, as they would from a server that dies later.
                    await Task.Delay(TimeSpan.FromMilliseconds(100), context.RequestAborted);
                    context.Abort();
                    return;
            }
        }
        if (textOpen)
        {
            await WriteEventAsync(context, "content_block_stop", new { type = "content_block_stop", index });
        }
        await WriteEventAsync(context, "message_delta", new
        {
            type = "message_delta",
            delta = new { stop_reason = calledTool ? "tool_use" : "end_turn", stop_sequence = (string?)null },
            usage = new { output_tokens = usage.OutputTokens },
        });
        await WriteEventAsync(context, "message_stop", new { type = "message_stop" });
    }

    private static async Task WriteErrorBodyAsync(HttpContext context, int status, string type, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers["request-id"] = "req_fake";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            type = "error",
            error = new { type, message },
            request_id = "req_fake",
        }), context.RequestAborted);
    }

    private static async Task WriteEventAsync(HttpContext context, string name, object data)
    {
        await context.Response.WriteAsync(Frame(name, data), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    private static string Frame(string name, object data) => $"event: {name}\ndata: {JsonSerializer.Serialize(data)}\n\n";

    private static string Delta(int index, object delta) =>
        Frame("content_block_delta", new { type = "content_block_delta", index, delta });

    /// <summary>The text cut into at most <paramref name="pieces"/> parts of about equal length (JSON cut anywhere, as the API does).</summary>
    private static IEnumerable<string> Split(string text, int pieces)
    {
        if (text.Length == 0)
        {
            yield break;
        }
        var count = Math.Clamp(pieces, 1, text.Length);
        var size = (int)Math.Ceiling(text.Length / (double)count);
        for (var start = 0; start < text.Length; start += size)
        {
            yield return text.Substring(start, Math.Min(size, text.Length - start));
        }
    }
}
