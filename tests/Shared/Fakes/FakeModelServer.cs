using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Portal.Testing.Fakes;

/// <summary>One step of what a fake model answers.</summary>
public abstract record ScriptStep;

/// <summary>A piece of answer text, streamed as one chunk.</summary>
public sealed record TextChunk(string Text) : ScriptStep;

/// <summary>A tool call; <paramref name="ArgumentsJson"/> is streamed in <paramref name="Pieces"/> parts where the wire format allows.</summary>
public sealed record ToolCallStep(string CallId, string Name, string ArgumentsJson, int Pieces = 3) : ScriptStep;

/// <summary>Token usage, sent where the wire format puts it.</summary>
public sealed record UsageStep(int InputTokens, int OutputTokens) : ScriptStep;

/// <summary>The connection drops here, mid-stream, without the stream's proper end.</summary>
public sealed record BreakStep : ScriptStep;

/// <summary>
/// One scripted answer. With <see cref="HttpStatus"/> set, the request is refused with that status and the provider's
/// error body (and Retry-After when <see cref="RetryAfterSeconds"/> is set) instead of streaming.
/// </summary>
public sealed record ModelScript(IReadOnlyList<ScriptStep> Steps)
{
    public int? HttpStatus { get; init; }
    public string ErrorMessage { get; init; } = "scripted failure";
    public int? RetryAfterSeconds { get; init; }
    /// <summary>Pause before each streamed chunk (e.g. 20 ms for 50 tokens a second).</summary>
    public TimeSpan ChunkDelay { get; init; }
    /// <summary>Pause before the response starts (to test timeouts).</summary>
    public TimeSpan FirstByteDelay { get; init; }
    /// <summary>When set, every chunk is written one byte at a time with this pause before each byte (a trickling server).</summary>
    public TimeSpan ByteDelay { get; init; }

    public static ModelScript Text(params string[] chunks) => new(chunks.Select(c => (ScriptStep)new TextChunk(c)).Append(new UsageStep(12, chunks.Length)).ToList());

    /// <summary>
    /// A provider that trickles: <paramref name="chunk"/> every <paramref name="every"/>, each a whole event of the wire
    /// format, for as long as any test runs (100,000 of them), never reaching the stream's end.
    /// </summary>
    public static ModelScript Endless(string chunk, TimeSpan every) =>
        new(Enumerable.Repeat((ScriptStep)new TextChunk(chunk), 100_000).ToList()) { ChunkDelay = every };

    public static ModelScript ToolCall(string callId, string name, object arguments, string? textBefore = null)
    {
        var steps = new List<ScriptStep>();
        if (textBefore is not null)
        {
            steps.Add(new TextChunk(textBefore));
        }
        steps.Add(new ToolCallStep(callId, name, JsonSerializer.Serialize(arguments)));
        steps.Add(new UsageStep(20, 10));
        return new ModelScript(steps);
    }

    public static ModelScript Failure(int status, string message = "scripted failure", int? retryAfterSeconds = null) =>
        new([]) { HttpStatus = status, ErrorMessage = message, RetryAfterSeconds = retryAfterSeconds };
}

/// <summary>A request a fake model server received.</summary>
public sealed record ReceivedModelRequest(string Path, string Query, IHeaderDictionary Headers, JsonElement Body);

/// <summary>
/// The common part of the fake OpenAI, Anthropic and Gemini servers: real Kestrel on 127.0.0.1, a queue of scripted
/// answers (when it runs dry, a default text answer), and every request kept for assertions. Subclasses map their
/// API's route and write the script in their API's real streaming format.
/// </summary>
public abstract class FakeModelServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<ModelScript> _scripts = new();
    private WebApplication? _app;

    public Uri BaseAddress { get; private set; } = default!;
    public ConcurrentQueue<ReceivedModelRequest> Requests { get; } = new();

    /// <summary>What is answered when no script is queued.</summary>
    public ModelScript DefaultScript { get; set; } = ModelScript.Text("Hello", " from", " the", " fake", " model.");

    public void Enqueue(params ModelScript[] scripts)
    {
        foreach (var script in scripts)
        {
            _scripts.Enqueue(script);
        }
    }

    protected async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        Map(_app);
        await _app.StartAsync();
        BaseAddress = new Uri(_app.Urls.First());
    }

    /// <summary>Maps the API's streaming route(s) to <see cref="ServeAsync"/>.</summary>
    protected abstract void Map(WebApplication app);

    /// <summary>Writes the error response the real API sends for a refused request.</summary>
    protected abstract Task WriteErrorAsync(HttpContext context, ModelScript script);

    /// <summary>Writes the script as the API's stream; the response has started when this is called.</summary>
    protected abstract Task WriteStreamAsync(HttpContext context, ModelScript script, JsonElement request);

    protected async Task ServeAsync(HttpContext context)
    {
        using var body = await JsonDocument.ParseAsync(context.Request.Body);
        var request = body.RootElement.Clone();
        Requests.Enqueue(new ReceivedModelRequest(context.Request.Path, context.Request.QueryString.Value ?? "",
            new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value)), request));
        var script = _scripts.TryDequeue(out var next) ? next : DefaultScript;
        if (script.FirstByteDelay > TimeSpan.Zero)
        {
            await Task.Delay(script.FirstByteDelay, context.RequestAborted);
        }
        if (script.HttpStatus is not null)
        {
            if (script.RetryAfterSeconds is { } seconds)
            {
                context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            await WriteErrorAsync(context, script);
            return;
        }
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.StartAsync();
        await WriteStreamAsync(context, script, request);
    }

    /// <summary>Waits the script's chunk delay, writes, flushes; a <see cref="BreakStep"/> aborts the connection.</summary>
    protected static async Task WriteChunkAsync(HttpContext context, ModelScript script, string text)
    {
        if (script.ChunkDelay > TimeSpan.Zero)
        {
            await Task.Delay(script.ChunkDelay, context.RequestAborted);
        }
        if (script.ByteDelay > TimeSpan.Zero)
        {
            foreach (var b in System.Text.Encoding.UTF8.GetBytes(text))
            {
                await Task.Delay(script.ByteDelay, context.RequestAborted);
                await context.Response.Body.WriteAsync(new[] { b }, context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
            return;
        }
        await context.Response.WriteAsync(text, context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        GC.SuppressFinalize(this);
    }
}
