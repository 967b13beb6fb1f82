using System.Diagnostics;
using System.Text.Json;
using Portal.Agents.Providers;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Agents.Providers;

/// <summary>The Anthropic provider against a fake Messages API that speaks the real streaming format on 127.0.0.1.</summary>
public sealed class AnthropicProviderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AnthropicProvider Provider(FakeAnthropicServer server, HttpClient http) =>
        new(new ProviderEndpoint(FakeAnthropicServer.ApiKey, server.BaseAddress), http);

    private static ModelRequest Request(params ModelMessage[] messages) =>
        new(FakeAnthropicServer.ModelName, null, messages.Length == 0 ? [new UserMessage("Hi")] : messages, [], null, null);

    private static async Task<List<ModelStreamEvent>> CollectAsync(IAsyncEnumerable<ModelStreamEvent> stream)
    {
        var events = new List<ModelStreamEvent>();
        await foreach (var item in stream)
        {
            events.Add(item);
        }
        return events;
    }

    /// <summary>Streams the request, keeping what arrived before a failure, and returns the failure.</summary>
    private static async Task<(List<ModelStreamEvent> Events, ModelProviderException Error)> FailAsync(IAsyncEnumerable<ModelStreamEvent> stream)
    {
        var events = new List<ModelStreamEvent>();
        var error = await Assert.ThrowsAsync<ModelProviderException>(async () =>
        {
            await foreach (var item in stream)
            {
                events.Add(item);
            }
        });
        return (events, error);
    }

    private static string Texts(IEnumerable<ModelStreamEvent> events) => string.Concat(events.OfType<TextDelta>().Select(d => d.Text));

    [Fact]
    public async Task StreamAsync_TextAnswer_YieldsEachDeltaInOrder()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(ModelScript.Text("Hello", " from", " Claude", "."));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal(["Hello", " from", " Claude", "."], events.OfType<TextDelta>().Select(d => d.Text));
        Assert.IsType<UsageReported>(events[^1]);
    }

    [Fact]
    public async Task StreamAsync_SlowChunks_FirstDeltaArrivesBeforeTheStreamEnds()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(ModelScript.Text("one", " two", " three", " four", " five") with { ChunkDelay = TimeSpan.FromMilliseconds(150) });
        using var http = new HttpClient();
        var clock = Stopwatch.StartNew();
        TimeSpan? firstDelta = null;

        var count = 0;
        await foreach (var item in Provider(server, http).StreamAsync(Request(), Ct))
        {
            if (item is TextDelta)
            {
                firstDelta ??= clock.Elapsed;
                count++;
            }
        }
        var end = clock.Elapsed;

        Assert.Equal(5, count);
        Assert.NotNull(firstDelta);
        // Four more chunks follow the first, 150 ms apart: a buffered stream would deliver them all at the end.
        Assert.True(end - firstDelta.Value >= TimeSpan.FromMilliseconds(400), $"first delta at {firstDelta}, end at {end}");
    }

    [Fact]
    public async Task StreamAsync_ToolUseInPieces_YieldsOneCallWithTheAssembledInput()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(new ModelScript([
            new ToolCallStep("toolu_01", "get_weather", """{"city":"Paris","days":[1,2],"unit":"celsius"}""", Pieces: 6),
            new UsageStep(30, 15)]));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Request(), Ct));

        var call = Assert.Single(events.OfType<ToolCallRequested>()).Call;
        Assert.Equal("toolu_01", call.CallId);
        Assert.Equal("get_weather", call.Name);
        using var input = JsonDocument.Parse(call.Arguments);
        Assert.Equal("Paris", input.RootElement.GetProperty("city").GetString());
        Assert.Equal(2, input.RootElement.GetProperty("days").GetArrayLength());
        Assert.Equal("celsius", input.RootElement.GetProperty("unit").GetString());
        Assert.Empty(events.OfType<TextDelta>());
    }

    [Fact]
    public async Task StreamAsync_ToolUseWithoutInput_YieldsEmptyObject()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(new ModelScript([new ToolCallStep("toolu_02", "list_files", "")]));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal("{}", Assert.Single(events.OfType<ToolCallRequested>()).Call.Arguments);
    }

    [Fact]
    public async Task StreamAsync_TextThenToolUse_YieldsTextBeforeTheCall()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(ModelScript.ToolCall("toolu_03", "search", new { query = "portal" }, textBefore: "Let me look that up."));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Collection(events,
            e => Assert.Equal("Let me look that up.", Assert.IsType<TextDelta>(e).Text),
            e => Assert.Equal(new ToolCall("toolu_03", "search", """{"query":"portal"}"""), Assert.IsType<ToolCallRequested>(e).Call),
            e => Assert.IsType<UsageReported>(e));
    }

    [Fact]
    public async Task StreamAsync_Answer_ReportsInputAndOutputTokensAtTheEnd()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(new ModelScript([new TextChunk("Hi"), new UsageStep(42, 7)]));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal(new UsageReported(42, 7), events[^1]);
        Assert.Single(events.OfType<UsageReported>());
    }

    [Fact]
    public async Task StreamAsync_Conversation_SendsItInTheMessagesApiShape()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        using var http = new HttpClient();
        using var schema = JsonDocument.Parse("""
            {"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"],"additionalProperties":false}
            """);
        var request = new ModelRequest(
            "claude-sonnet-test",
            "You are terse.",
            [
                new UserMessage("Weather in Paris and Rome?"),
                new AssistantMessage("Checking.", [
                    new ToolCall("toolu_a", "get_weather", """{"city":"Paris"}"""),
                    new ToolCall("toolu_b", "get_weather", """{"city":"Rome"}""")]),
                new ToolResultMessage("toolu_a", "get_weather", "18 C"),
                new ToolResultMessage("toolu_b", "get_weather", "24 C"),
                new AssistantMessage("Paris 18 C, Rome 24 C.", []),
                new UserMessage("Thanks"),
            ],
            [new ToolDefinition("get_weather", "Current weather of a city", schema.RootElement)],
            Temperature: 0.25,
            MaxTokens: 1234);

        await CollectAsync(Provider(server, http).StreamAsync(request, Ct));

        var received = Assert.Single(server.Requests);
        Assert.Equal("/v1/messages", received.Path);
        Assert.Equal(FakeAnthropicServer.ApiKey, FakeAnthropicServer.ApiKeyOf(received.Headers));
        Assert.False(string.IsNullOrEmpty(received.Headers["anthropic-version"]));
        var body = received.Body;
        Assert.Equal("claude-sonnet-test", body.GetProperty("model").GetString());
        Assert.Equal(1234, body.GetProperty("max_tokens").GetInt32());
        Assert.Equal(0.25, body.GetProperty("temperature").GetDouble());
        Assert.True(body.GetProperty("stream").GetBoolean());
        Assert.Equal("You are terse.", SystemText(body.GetProperty("system")));

        var messages = body.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(["user", "assistant", "user", "assistant", "user"], messages.Select(m => m.GetProperty("role").GetString()));
        Assert.Equal("Weather in Paris and Rome?", ContentText(messages[0]));

        var assistant = Blocks(messages[1]);
        Assert.Equal(["text", "tool_use", "tool_use"], assistant.Select(b => b.GetProperty("type").GetString()));
        Assert.Equal("Checking.", assistant[0].GetProperty("text").GetString());
        Assert.Equal("toolu_a", assistant[1].GetProperty("id").GetString());
        Assert.Equal("get_weather", assistant[1].GetProperty("name").GetString());
        Assert.Equal("Paris", assistant[1].GetProperty("input").GetProperty("city").GetString());
        Assert.Equal("Rome", assistant[2].GetProperty("input").GetProperty("city").GetString());

        var results = Blocks(messages[2]);
        Assert.Equal(["tool_result", "tool_result"], results.Select(b => b.GetProperty("type").GetString()));
        Assert.Equal(["toolu_a", "toolu_b"], results.Select(b => b.GetProperty("tool_use_id").GetString()));
        Assert.Equal(["18 C", "24 C"], results.Select(ContentText));

        Assert.Equal("Paris 18 C, Rome 24 C.", ContentText(messages[3]));
        Assert.Equal("Thanks", ContentText(messages[4]));

        var tool = Assert.Single(body.GetProperty("tools").EnumerateArray().ToList());
        Assert.Equal("get_weather", tool.GetProperty("name").GetString());
        Assert.Equal("Current weather of a city", tool.GetProperty("description").GetString());
        var inputSchema = tool.GetProperty("input_schema");
        Assert.Equal("object", inputSchema.GetProperty("type").GetString());
        Assert.Equal("string", inputSchema.GetProperty("properties").GetProperty("city").GetProperty("type").GetString());
        Assert.Equal("city", inputSchema.GetProperty("required")[0].GetString());
        Assert.False(inputSchema.GetProperty("additionalProperties").GetBoolean());
    }

    [Fact]
    public async Task StreamAsync_NoMaxTokensOrTemperature_SendsDefaultMaxTokensAndNoTemperature()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        using var http = new HttpClient();

        await CollectAsync(Provider(server, http).StreamAsync(Request(), Ct));

        var body = Assert.Single(server.Requests).Body;
        Assert.Equal(AnthropicProvider.DefaultMaxTokens, body.GetProperty("max_tokens").GetInt32());
        Assert.False(body.TryGetProperty("temperature", out _));
        Assert.False(body.TryGetProperty("system", out _));
        Assert.False(body.TryGetProperty("tools", out _));
    }

    [Fact]
    public async Task StreamAsync_BaseUrl_SendsTheRequestThere()
    {
        await using var unused = await FakeAnthropicServer.StartAsync();
        await using var server = await FakeAnthropicServer.StartAsync();
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal("Hello from the fake model.", Texts(events));
        Assert.Single(server.Requests);
        Assert.Empty(unused.Requests);
    }

    [Fact]
    public async Task StreamAsync_Unauthorized_ThrowsProviderAuthWithoutTheKey()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(ModelScript.Failure(401, "invalid x-api-key"));
        using var http = new HttpClient();

        var (_, error) = await FailAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal("provider_auth", error.Code);
        Assert.False(error.Retryable);
        Assert.Contains("invalid x-api-key", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeAnthropicServer.ApiKey, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_RateLimitedWithRetryAfter_ThrowsRetryableRateLimitedWithTheWait()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(ModelScript.Failure(429, "Number of request tokens has exceeded your per-minute rate limit", retryAfterSeconds: 7));
        using var http = new HttpClient();

        var (_, error) = await FailAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal("rate_limited", error.Code);
        Assert.True(error.Retryable);
        Assert.Equal(TimeSpan.FromSeconds(7), error.RetryAfter);
        Assert.Contains("per-minute rate limit", error.Message, StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task StreamAsync_Overloaded529_ThrowsRetryableProviderUnavailable()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(ModelScript.Failure(529, "Overloaded"));
        using var http = new HttpClient();

        var (_, error) = await FailAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal("provider_unavailable", error.Code);
        Assert.True(error.Retryable);
        Assert.Contains("Overloaded", error.Message, StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task StreamAsync_BadRequest_ThrowsBadRequestWithTheApiMessage()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(ModelScript.Failure(400, "messages: roles must alternate between \"user\" and \"assistant\""));
        using var http = new HttpClient();

        var (_, error) = await FailAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal("bad_request", error.Code);
        Assert.False(error.Retryable);
        Assert.Contains("roles must alternate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_OverloadedErrorEventBeforeText_ThrowsRetryableProviderUnavailable()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(new ModelScript([new StreamErrorStep("overloaded_error", "Overloaded")]));
        using var http = new HttpClient();

        var (events, error) = await FailAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Empty(events);
        Assert.Equal("provider_unavailable", error.Code);
        Assert.True(error.Retryable);
        Assert.Contains("Overloaded", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_OverloadedErrorEventAfterText_ThrowsProviderUnavailableNotRetryable()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(new ModelScript([new TextChunk("Partial"), new StreamErrorStep()]));
        using var http = new HttpClient();

        var (events, error) = await FailAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal("Partial", Texts(events));
        Assert.Equal("provider_unavailable", error.Code);
        Assert.False(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_ConnectionRefused_ThrowsRetryableProviderUnavailable()
    {
        using var http = new HttpClient();
        var provider = new AnthropicProvider(new ProviderEndpoint(FakeAnthropicServer.ApiKey, new Uri("http://127.0.0.1:1")), http);

        var (events, error) = await FailAsync(provider.StreamAsync(Request(), Ct));

        Assert.Empty(events);
        Assert.Equal("provider_unavailable", error.Code);
        Assert.True(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_ConnectionBreaksAfterText_ThrowsStreamBrokenAfterTheEarlierDeltas()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(new ModelScript([new TextChunk("Hello"), new TextChunk(" wor"), new BreakStep(), new TextChunk("ld")]));
        using var http = new HttpClient();

        var (events, error) = await FailAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal(["Hello", " wor"], events.OfType<TextDelta>().Select(d => d.Text));
        Assert.Equal("stream_broken", error.Code);
        Assert.False(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_NoAnswerWithinTheClientTimeout_ThrowsRetryableTimeout()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(ModelScript.Text("late") with { FirstByteDelay = TimeSpan.FromSeconds(5) });
        using var http = new HttpClient { Timeout = TimeSpan.FromMilliseconds(300) };

        var (_, error) = await FailAsync(Provider(server, http).StreamAsync(Request(), Ct));

        Assert.Equal("timeout", error.Code);
        Assert.True(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_CallerCancels_ThrowsOperationCanceled()
    {
        await using var server = await FakeAnthropicServer.StartAsync();
        server.Enqueue(ModelScript.Text("one", " two", " three", " four") with { ChunkDelay = TimeSpan.FromMilliseconds(200) });
        using var http = new HttpClient();
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var received = new List<ModelStreamEvent>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var item in Provider(server, http).StreamAsync(Request(), cancellation.Token))
            {
                received.Add(item);
                await cancellation.CancelAsync();
            }
        });

        Assert.Single(received);
    }

    /// <summary>The system prompt, whether sent as a string or as text blocks.</summary>
    private static string SystemText(JsonElement system) =>
        system.ValueKind == JsonValueKind.String ? system.GetString()! : string.Concat(system.EnumerateArray().Select(b => b.GetProperty("text").GetString()));

    /// <summary>A message's or tool result's content as text, whether sent as a string or as text blocks.</summary>
    private static string ContentText(JsonElement owner)
    {
        var content = owner.GetProperty("content");
        return content.ValueKind == JsonValueKind.String
            ? content.GetString()!
            : string.Concat(content.EnumerateArray().Where(b => b.GetProperty("type").GetString() == "text").Select(b => b.GetProperty("text").GetString()));
    }

    private static List<JsonElement> Blocks(JsonElement message) => message.GetProperty("content").EnumerateArray().ToList();
}
