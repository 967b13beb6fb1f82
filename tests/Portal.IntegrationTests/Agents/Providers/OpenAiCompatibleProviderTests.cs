using System.Diagnostics;
using System.Text.Json;
using Portal.Agents.Providers;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Agents.Providers;

/// <summary>The OpenAI-compatible provider against a fake OpenAI server speaking the real streaming format.</summary>
public sealed class OpenAiCompatibleProviderTests
{
    private const string ApiKey = "sk-test-0123456789abcdef";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Uri V1(FakeOpenAiServer server) => new(server.BaseAddress, "/v1");

    private static OpenAiCompatibleProvider Provider(FakeOpenAiServer server, HttpClient http, string apiKey = ApiKey) =>
        new(new ProviderEndpoint(apiKey, V1(server)), http);

    private static ModelRequest Ask(string text = "Hi") => new("gpt-4o-mini", null, [new UserMessage(text)], [], null, null);

    private static async Task<List<ModelStreamEvent>> CollectAsync(IAsyncEnumerable<ModelStreamEvent> stream)
    {
        var events = new List<ModelStreamEvent>();
        await foreach (var item in stream)
        {
            events.Add(item);
        }
        return events;
    }

    /// <summary>Streams until the provider throws; returns what came before and the exception.</summary>
    private static async Task<(List<ModelStreamEvent> Events, ModelProviderException Error)> CollectUntilFailureAsync(IAsyncEnumerable<ModelStreamEvent> stream)
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

    private static string Text(IEnumerable<ModelStreamEvent> events) => string.Concat(events.OfType<TextDelta>().Select(d => d.Text));

    [Fact]
    public async Task StreamAsync_TextAnswer_YieldsEachChunkAsADeltaInOrder()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(ModelScript.Text("Hello", " there", ", friend", "."));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Equal(new[] { "Hello", " there", ", friend", "." }, events.OfType<TextDelta>().Select(d => d.Text));
    }

    [Fact]
    public async Task StreamAsync_SlowChunks_YieldsTheFirstDeltaBeforeTheStreamEnds()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(ModelScript.Text("one", " two", " three", " four") with { ChunkDelay = TimeSpan.FromMilliseconds(250) });
        using var http = new HttpClient();
        var clock = Stopwatch.StartNew();
        TimeSpan? firstDelta = null;

        await foreach (var item in Provider(server, http).StreamAsync(Ask(), Ct))
        {
            if (item is TextDelta && firstDelta is null)
            {
                firstDelta = clock.Elapsed;
            }
        }
        var end = clock.Elapsed;

        // After the first text: three more chunks, the finish chunk, usage and [DONE], each 250 ms apart.
        Assert.NotNull(firstDelta);
        Assert.True(end - firstDelta.Value >= TimeSpan.FromMilliseconds(750), $"first delta at {firstDelta}, end at {end}");
    }

    [Fact]
    public async Task StreamAsync_ToolCallArgumentsInPieces_YieldsOneCallWithTheAssembledJson()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(new ModelScript([
            new TextChunk("Let me look."),
            new ToolCallStep("call_abc", "search_orders", """{"customer":"Ada Lovelace","limit":5,"open":true}""", Pieces: 5),
        ]));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.IsType<TextDelta>(events[0]);
        var call = Assert.Single(events.OfType<ToolCallRequested>()).Call;
        Assert.Equal("call_abc", call.CallId);
        Assert.Equal("search_orders", call.Name);
        using var arguments = JsonDocument.Parse(call.Arguments);
        Assert.Equal("Ada Lovelace", arguments.RootElement.GetProperty("customer").GetString());
        Assert.Equal(5, arguments.RootElement.GetProperty("limit").GetInt32());
        Assert.True(arguments.RootElement.GetProperty("open").GetBoolean());
    }

    [Fact]
    public async Task StreamAsync_TwoToolCallsInOneAnswer_YieldsBothInOrder()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(new ModelScript([
            new ToolCallStep("call_1", "get_weather", """{"city":"Paris"}"""),
            new ToolCallStep("call_2", "get_time", """{"zone":"Europe/Paris"}""", Pieces: 2),
            new UsageStep(30, 12),
        ]));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        var calls = events.OfType<ToolCallRequested>().Select(e => e.Call).ToList();
        Assert.Equal(
            new[] { new ToolCall("call_1", "get_weather", """{"city":"Paris"}"""), new ToolCall("call_2", "get_time", """{"zone":"Europe/Paris"}""") },
            calls);
    }

    [Fact]
    public async Task StreamAsync_UsageInStream_ReportsInputAndOutputTokens()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(new ModelScript([new TextChunk("Hi."), new UsageStep(42, 7)]));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Equal(new UsageReported(42, 7), Assert.Single(events.OfType<UsageReported>()));
        Assert.True(server.Requests.Single().Body.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
    }

    [Fact]
    public async Task StreamAsync_FullConversation_SendsItAsChatCompletionsRequest()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        using var http = new HttpClient();
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""");
        var request = new ModelRequest(
            "gpt-4.1-mini",
            "You are a weather assistant.",
            [
                new UserMessage("Weather in Paris?"),
                new AssistantMessage("Checking.", [new ToolCall("call_9", "get_weather", """{"city":"Paris"}""")]),
                new ToolResultMessage("call_9", "get_weather", "18°C, cloudy"),
            ],
            [new ToolDefinition("get_weather", "Current weather of a city", schema.RootElement.Clone())],
            Temperature: 0.25,
            MaxTokens: 321);

        await CollectAsync(Provider(server, http).StreamAsync(request, Ct));

        var received = server.Requests.Single();
        var body = received.Body;
        Assert.Equal("/v1/chat/completions", received.Path);
        Assert.Equal($"Bearer {ApiKey}", received.Headers.Authorization.ToString());
        Assert.Equal("gpt-4.1-mini", body.GetProperty("model").GetString());
        Assert.True(body.GetProperty("stream").GetBoolean());
        Assert.Equal(0.25, body.GetProperty("temperature").GetDouble(), 5);
        Assert.Equal(321, body.GetProperty("max_tokens").GetInt32());

        var messages = body.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(new[] { "system", "user", "assistant", "tool" }, messages.Select(m => m.GetProperty("role").GetString()));
        Assert.Equal("You are a weather assistant.", ContentText(messages[0]));
        Assert.Equal("Weather in Paris?", ContentText(messages[1]));
        Assert.Equal("Checking.", ContentText(messages[2]));
        var toolCall = Assert.Single(messages[2].GetProperty("tool_calls").EnumerateArray());
        Assert.Equal("call_9", toolCall.GetProperty("id").GetString());
        Assert.Equal("function", toolCall.GetProperty("type").GetString());
        Assert.Equal("get_weather", toolCall.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("""{"city":"Paris"}""", toolCall.GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal("call_9", messages[3].GetProperty("tool_call_id").GetString());
        Assert.Equal("18°C, cloudy", ContentText(messages[3]));

        var tool = Assert.Single(body.GetProperty("tools").EnumerateArray());
        Assert.Equal("function", tool.GetProperty("type").GetString());
        var function = tool.GetProperty("function");
        Assert.Equal("get_weather", function.GetProperty("name").GetString());
        Assert.Equal("Current weather of a city", function.GetProperty("description").GetString());
        Assert.True(JsonElement.DeepEquals(schema.RootElement, function.GetProperty("parameters")));
    }

    /// <summary>A message's text, whether sent as a string or as an array of text parts.</summary>
    private static string ContentText(JsonElement message)
    {
        var content = message.GetProperty("content");
        return content.ValueKind == JsonValueKind.String
            ? content.GetString()!
            : string.Concat(content.EnumerateArray().Select(part => part.GetProperty("text").GetString()));
    }

    [Fact]
    public async Task StreamAsync_BaseUrlWithTrailingSlash_PostsToItsChatCompletions()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        using var http = new HttpClient();
        var provider = new OpenAiCompatibleProvider(new ProviderEndpoint(ApiKey, new Uri(server.BaseAddress, "/v1/")), http);

        var events = await CollectAsync(provider.StreamAsync(Ask(), Ct));

        Assert.Equal("Hello from the fake model.", Text(events));
        Assert.Equal("/v1/chat/completions", server.Requests.Single().Path);
    }

    [Fact]
    public async Task StreamAsync_EmptyApiKey_SendsNoAuthorizationHeader()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.RequireApiKey = false;
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http, apiKey: "").StreamAsync(Ask(), Ct));

        Assert.Equal("Hello from the fake model.", Text(events));
        Assert.False(server.Requests.Single().Headers.ContainsKey("Authorization"));
    }

    [Fact]
    public async Task StreamAsync_WrongApiKey_ThrowsProviderAuthWithTheProvidersMessageButNotTheKey()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.ExpectedApiKey = "sk-the-right-key-0000";
        using var http = new HttpClient();

        var (events, error) = await CollectUntilFailureAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Empty(events);
        Assert.Equal("provider_auth", error.Code);
        Assert.False(error.Retryable);
        Assert.Contains("Incorrect API key provided", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(ApiKey, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_RateLimitedWithRetryAfter_ThrowsRetryableRateLimitedWithTheDelay()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(ModelScript.Failure(429, "Rate limit reached for gpt-4o-mini on requests per min (RPM).", retryAfterSeconds: 7));
        using var http = new HttpClient();

        var (_, error) = await CollectUntilFailureAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Equal("rate_limited", error.Code);
        Assert.True(error.Retryable);
        Assert.Equal(TimeSpan.FromSeconds(7), error.RetryAfter);
        Assert.Contains("Rate limit reached", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_ServiceUnavailable_ThrowsRetryableProviderUnavailable()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(ModelScript.Failure(503, "The engine is currently overloaded, please try again later."));
        using var http = new HttpClient();

        var (_, error) = await CollectUntilFailureAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Equal("provider_unavailable", error.Code);
        Assert.True(error.Retryable);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task StreamAsync_BadRequest_ThrowsBadRequestWithTheProvidersMessage()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(ModelScript.Failure(400, "Invalid schema for function 'get_weather': 'strng' is not valid."));
        using var http = new HttpClient();

        var (_, error) = await CollectUntilFailureAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Equal("bad_request", error.Code);
        Assert.False(error.Retryable);
        Assert.Contains("Invalid schema for function 'get_weather'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_ConnectionRefused_ThrowsRetryableProviderUnavailable()
    {
        using var http = new HttpClient();
        var provider = new OpenAiCompatibleProvider(new ProviderEndpoint(ApiKey, new Uri("http://127.0.0.1:1/v1")), http);

        var (events, error) = await CollectUntilFailureAsync(provider.StreamAsync(Ask(), Ct));

        Assert.Empty(events);
        Assert.Equal("provider_unavailable", error.Code);
        Assert.True(error.Retryable);
        Assert.DoesNotContain(ApiKey, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_NoAnswerWithinTheClientTimeout_ThrowsRetryableTimeout()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(ModelScript.Text("late") with { FirstByteDelay = TimeSpan.FromSeconds(5) });
        using var http = new HttpClient { Timeout = TimeSpan.FromMilliseconds(300) };

        var (_, error) = await CollectUntilFailureAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Equal("timeout", error.Code);
        Assert.True(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_ConnectionDropsAfterSomeText_ThrowsStreamBrokenNotRetryableAfterTheEarlierDeltas()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(new ModelScript([new TextChunk("The answer"), new TextChunk(" is"), new BreakStep(), new TextChunk(" 42.")]));
        using var http = new HttpClient();

        var (events, error) = await CollectUntilFailureAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Equal("The answer is", Text(events));
        Assert.Equal("stream_broken", error.Code);
        Assert.False(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_ConnectionDropsDuringAToolCall_YieldsNoPartialCall()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(new ModelScript([new ToolCallStep("call_1", "get_weather", """{"city":"Paris"}"""), new BreakStep()]));
        using var http = new HttpClient();

        var (events, error) = await CollectUntilFailureAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Empty(events);
        Assert.Equal("stream_broken", error.Code);
        Assert.True(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_StreamEndsWithoutFinishReasonOrDone_ThrowsStreamBrokenAfterTheText()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.SendFinishReason = false;
        server.SendDone = false;
        server.Enqueue(ModelScript.Text("Half an", " answer"));
        using var http = new HttpClient();

        var (events, error) = await CollectUntilFailureAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Equal("Half an answer", Text(events));
        Assert.Equal("stream_broken", error.Code);
        Assert.False(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_DoneWithoutFinishReason_CompletesWithTheToolCall()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.SendFinishReason = false;
        server.Enqueue(ModelScript.ToolCall("call_7", "get_weather", new { city = "Oslo" }));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(server, http).StreamAsync(Ask(), Ct));

        Assert.Equal(new ToolCall("call_7", "get_weather", """{"city":"Oslo"}"""), Assert.Single(events.OfType<ToolCallRequested>()).Call);
    }

    [Fact]
    public async Task StreamAsync_CallerCancels_PropagatesOperationCanceled()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Enqueue(ModelScript.Text("one", " two", " three", " four", " five") with { ChunkDelay = TimeSpan.FromMilliseconds(200) });
        using var http = new HttpClient();
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var received = new List<ModelStreamEvent>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var item in Provider(server, http).StreamAsync(Ask(), cancellation.Token))
            {
                received.Add(item);
                await cancellation.CancelAsync();
            }
        });

        Assert.Single(received);
    }
}
