using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Portal.Testing.Fakes;

/// <summary>
/// Google's Generative Language API as <c>streamGenerateContent?alt=sse</c> speaks it: one GenerateContentResponse per
/// <c>data:</c> event, function calls whole in one event (with an <c>id</c> unless the step's CallId is empty), the last
/// event carrying <c>finishReason</c> and the full <c>usageMetadata</c>. Errors are Google's
/// <c>{"error":{"code","message","status","details"}}</c>; a missing key is refused as the real API does.
/// </summary>
public sealed class FakeGeminiServer : FakeModelServer
{
    private FakeGeminiServer()
    {
    }

    /// <summary>The model of every request, from the route.</summary>
    public ConcurrentQueue<string> Models { get; } = new();

    /// <summary>When set, any other key is refused with 400 API_KEY_INVALID, as Google refuses a wrong key.</summary>
    public string? ValidApiKey { get; set; }

    /// <summary>When set, prompts are blocked with this reason (promptFeedback, no candidates).</summary>
    public string? PromptBlockReason { get; set; }

    /// <summary>
    /// True to send a 429's delay only in the error's RetryInfo, as Google does, without the Retry-After header the
    /// base server adds.
    /// </summary>
    public bool RetryDelayOnlyInBody { get; set; }

    public static new async Task<FakeGeminiServer> StartAsync()
    {
        var server = new FakeGeminiServer();
        await server.StartServerAsync();
        return server;
    }

    private Task StartServerAsync() => base.StartAsync();

    protected override void Map(WebApplication app) =>
        app.MapPost("/v1beta/models/{model}:streamGenerateContent", HandleAsync);

    private async Task HandleAsync(HttpContext context)
    {
        var model = context.GetRouteValue("model") as string ?? "";
        Models.Enqueue(model);
        var key = context.Request.Headers["x-goog-api-key"].ToString();
        if (key.Length == 0)
        {
            key = context.Request.Query["key"].ToString();
        }

        if (context.Request.Query["alt"] != "sse")
        {
            await WriteGoogleErrorAsync(context, 400, "This fake streams only with alt=sse.", "INVALID_ARGUMENT", null);
        }
        else if (key.Length == 0)
        {
            await WriteGoogleErrorAsync(context, 403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                "PERMISSION_DENIED", null);
        }
        else if (ValidApiKey is not null && key != ValidApiKey)
        {
            await WriteGoogleErrorAsync(context, 400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
                [new JsonObject
                {
                    ["@type"] = "type.googleapis.com/google.rpc.ErrorInfo",
                    ["reason"] = "API_KEY_INVALID",
                    ["domain"] = "googleapis.com",
                }]);
        }
        else if (PromptBlockReason is { } reason)
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(Event(new JsonObject
            {
                ["promptFeedback"] = new JsonObject { ["blockReason"] = reason },
                ["usageMetadata"] = new JsonObject { ["promptTokenCount"] = 8, ["totalTokenCount"] = 8 },
                ["modelVersion"] = model,
            }), context.RequestAborted);
        }
        else
        {
            await ServeAsync(context);
        }
    }

    protected override Task WriteErrorAsync(HttpContext context, ModelScript script)
    {
        var status = script.HttpStatus!.Value;
        JsonArray? details = null;
        if (status == 429 && script.RetryAfterSeconds is { } seconds)
        {
            details =
            [
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/google.rpc.QuotaFailure",
                    ["violations"] = new JsonArray(new JsonObject
                    {
                        ["quotaMetric"] = "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        ["quotaId"] = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    }),
                },
                new JsonObject { ["@type"] = "type.googleapis.com/google.rpc.RetryInfo", ["retryDelay"] = $"{seconds}s" },
            ];
            if (RetryDelayOnlyInBody)
            {
                context.Response.Headers.Remove(HeaderNames.RetryAfter);
            }
        }
        return WriteGoogleErrorAsync(context, status, script.ErrorMessage, StatusName(status), details);
    }

    protected override async Task WriteStreamAsync(HttpContext context, ModelScript script, JsonElement request)
    {
        var model = context.GetRouteValue("model") as string ?? "";
        var usage = script.Steps.OfType<UsageStep>().LastOrDefault();
        // Each event is written once the next step is known, so the last one can carry finishReason and the usage.
        JsonObject? pending = null;
        var calls = 0;
        foreach (var step in script.Steps)
        {
            JsonObject? part = step switch
            {
                TextChunk text => new JsonObject { ["text"] = text.Text },
                ToolCallStep call => FunctionCallPart(call, signed: calls++ == 0),
                _ => null,
            };
            if (step is BreakStep)
            {
                if (pending is not null)
                {
                    await WriteChunkAsync(context, script, Event(pending));
                }
                // Flushing hands the bytes to Kestrel's socket loop, not to the client; an abort right after can drop
                // them. The pause lets what was written (at least the headers) arrive before the connection dies.
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(TimeSpan.FromMilliseconds(100), context.RequestAborted);
                context.Abort();
                return;
            }
            if (part is null)
            {
                continue;
            }
            if (pending is not null)
            {
                await WriteChunkAsync(context, script, Event(pending));
            }
            pending = Response(part, model, usage);
        }

        pending ??= Response(new JsonObject { ["text"] = "" }, model, usage);
        pending["candidates"]![0]!["finishReason"] = "STOP";
        if (usage is not null)
        {
            pending["usageMetadata"] = new JsonObject
            {
                ["promptTokenCount"] = usage.InputTokens,
                ["candidatesTokenCount"] = usage.OutputTokens,
                ["totalTokenCount"] = usage.InputTokens + usage.OutputTokens,
            };
        }
        await WriteChunkAsync(context, script, Event(pending));
    }

    private static JsonObject FunctionCallPart(ToolCallStep call, bool signed)
    {
        var functionCall = new JsonObject();
        if (call.CallId.Length > 0)
        {
            functionCall["id"] = call.CallId;
        }
        functionCall["name"] = call.Name;
        functionCall["args"] = JsonNode.Parse(call.ArgumentsJson);
        var part = new JsonObject { ["functionCall"] = functionCall };
        if (signed)
        {
            // Gemini 3 signs the first call of a turn; clients must ignore (or keep) it.
            part["thoughtSignature"] = "CiQBjz1rX3Rlc3Qtc2lnbmF0dXJl";
        }
        return part;
    }

    /// <summary>A streamed GenerateContentResponse; before the end Google reports only the prompt's tokens.</summary>
    private static JsonObject Response(JsonObject part, string model, UsageStep? usage)
    {
        var response = new JsonObject
        {
            ["candidates"] = new JsonArray(new JsonObject
            {
                ["content"] = new JsonObject { ["parts"] = new JsonArray(part), ["role"] = "model" },
                ["index"] = 0,
            }),
        };
        if (usage is not null)
        {
            response["usageMetadata"] = new JsonObject { ["promptTokenCount"] = usage.InputTokens, ["totalTokenCount"] = usage.InputTokens };
        }
        response["modelVersion"] = model;
        response["responseId"] = "fake-gemini-response";
        return response;
    }

    private static string Event(JsonObject response) => $"data: {response.ToJsonString()}\r\n\r\n";

    private static async Task WriteGoogleErrorAsync(HttpContext context, int status, string message, string statusName, JsonArray? details)
    {
        var error = new JsonObject { ["code"] = status, ["message"] = message, ["status"] = statusName };
        if (details is not null)
        {
            error["details"] = details;
        }
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=UTF-8";
        await context.Response.WriteAsync(new JsonObject { ["error"] = error }.ToJsonString(), context.RequestAborted);
    }

    private static string StatusName(int status) => status switch
    {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
}
