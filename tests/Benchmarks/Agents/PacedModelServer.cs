using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Portal.Benchmarks.Agents;

/// <summary>
/// An OpenAI-compatible chat-completions server that streams one reply per request at a fixed rate for a fixed time,
/// in OpenAI's real chunk format. The user message names a stream ("stream 17"); each token is
/// <c>"17.k.timestamp "</c>: the stream, the token's index and <see cref="Stopwatch.GetTimestamp"/> just before it was
/// written and flushed, so the client (in the same process) can check that no token was lost, doubled or reordered and
/// how long each took from here to it. With <see cref="NumberedTokens"/>, a token is only its index (<c>"k "</c>, about
/// as long as a real token) and the server keeps each token's wall-clock send time instead (<see cref="SentAt"/>), for
/// clients in another process such as a browser.
/// </summary>
internal sealed partial class PacedModelServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<int, int> _sent = new();
    private readonly ConcurrentDictionary<int, DateTime[]> _sentAt = new();

    private PacedModelServer(WebApplication app) => _app = app;

    public Uri BaseUrl => new(_app.Urls.First() + "/v1");

    /// <summary>Tokens per second of each stream.</summary>
    public double TokensPerSecond { get; set; } = 50;

    /// <summary>How long each reply streams.</summary>
    public TimeSpan StreamFor { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Tokens are <c>"k "</c> and their send times are kept, instead of carrying a timestamp.</summary>
    public bool NumberedTokens { get; set; }

    /// <summary>With <see cref="NumberedTokens"/> and above 0, every this many tokens the token ends a paragraph (<c>"k\n\n"</c>), as a real reply's do.</summary>
    public int ParagraphEvery { get; set; }

    /// <summary>Tokens written and flushed so far, by stream.</summary>
    public int Sent(int stream) => _sent.GetValueOrDefault(stream);

    /// <summary>When token <paramref name="index"/> of a stream was written (UTC, just before), with <see cref="NumberedTokens"/>.</summary>
    public DateTime SentAt(int stream, int index) => _sentAt[stream][index];

    public void Reset()
    {
        _sent.Clear();
        _sentAt.Clear();
    }

    public static async Task<PacedModelServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentConnections = null);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new PacedModelServer(app);
        app.MapPost("/v1/chat/completions", (Delegate)((HttpContext context) => server.StreamAsync(context)));
        await app.StartAsync();
        return server;
    }

    private async Task StreamAsync(HttpContext context)
    {
        using var body = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        var match = StreamName().Match(body.RootElement.GetRawText());
        var stream = match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        var id = "chatcmpl-bench" + stream.ToString(CultureInfo.InvariantCulture);
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var ct = context.RequestAborted;

        async Task WriteAsync(string deltaJson, string finish = "null")
        {
            var chunk = $$"""data: {"id":"{{id}}","object":"chat.completion.chunk","created":{{created}},"model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{{deltaJson}},"logprobs":null,"finish_reason":{{finish}}}]}""" + "\n\n";
            await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(chunk), ct);
            await context.Response.Body.FlushAsync(ct);
        }

        await WriteAsync("""{"role":"assistant","content":"","refusal":null}""");
        var count = (int)(StreamFor.TotalSeconds * TokensPerSecond);
        var interval = TimeSpan.FromSeconds(1 / TokensPerSecond);
        var sentAt = _sentAt[stream] = new DateTime[count];
        var start = Stopwatch.GetTimestamp();
        for (var k = 0; k < count; k++)
        {
            // Paced against the start, not the previous token, so that a late token does not delay all that follow.
            var due = interval * k - Stopwatch.GetElapsedTime(start);
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, ct);
            }
            var token = NumberedTokens
                ? string.Create(CultureInfo.InvariantCulture, $"{k}{(ParagraphEvery > 0 && (k + 1) % ParagraphEvery == 0 ? "\\n\\n" : " ")}")
                : string.Create(CultureInfo.InvariantCulture, $"{stream}.{k}.{Stopwatch.GetTimestamp()} ");
            sentAt[k] = DateTime.UtcNow;
            await WriteAsync($$"""{"content":"{{token}}"}""");
            _sent.AddOrUpdate(stream, 1, (_, n) => n + 1);
        }
        await WriteAsync("{}", "\"stop\"");
        await context.Response.Body.WriteAsync("data: [DONE]\n\n"u8.ToArray(), ct);
        await context.Response.Body.FlushAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    [GeneratedRegex(@"stream (\d+)")]
    private static partial Regex StreamName();
}
