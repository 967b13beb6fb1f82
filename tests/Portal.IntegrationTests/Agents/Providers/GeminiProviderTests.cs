using System.Diagnostics;
using System.Text.Json;
using Portal.Agents.Providers;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Agents.Providers;

/// <summary>The Gemini provider against a fake Generative Language API on 127.0.0.1 that speaks its SSE stream.</summary>
public sealed class GeminiProviderTests
{
    private const string Key = "AIzaSy-test-key-0123456789";
    private const string Model = "gemini-2.5-flash";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ModelRequest Ask(string text = "Hi") => new(Model, null, [new UserMessage(text)], [], null, null);

    private static GeminiProvider Provider(FakeGeminiServer fake, HttpClient http, string key = Key) =>
        new(new ProviderEndpoint(key, fake.BaseAddress), http);

    private static async Task<List<ModelStreamEvent>> CollectAsync(GeminiProvider provider, ModelRequest request)
    {
        var events = new List<ModelStreamEvent>();
        await foreach (var item in provider.StreamAsync(request, Ct))
        {
            events.Add(item);
        }
        return events;
    }

    private static async Task<ModelProviderException> FailureAsync(GeminiProvider provider, ModelRequest request, List<ModelStreamEvent>? received = null) =>
        await Assert.ThrowsAsync<ModelProviderException>(async () =>
        {
            await foreach (var item in provider.StreamAsync(request, Ct))
            {
                received?.Add(item);
            }
        });

    private static JsonElement Schema(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    [Fact]
    public async Task StreamAsync_TextAnswer_YieldsEachChunkAsATextDeltaInOrder()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Text("The", " sky", " is", " blue."));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(fake, http), Ask());

        Assert.Equal(["The", " sky", " is", " blue."], events.OfType<TextDelta>().Select(d => d.Text));
    }

    [Fact]
    public async Task StreamAsync_SlowChunks_FirstDeltaArrivesBeforeTheStreamEnds()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Text("one", " two", " three", " four", " five") with { ChunkDelay = TimeSpan.FromMilliseconds(200) });
        using var http = new HttpClient();
        var clock = Stopwatch.StartNew();
        TimeSpan? first = null;

        await foreach (var item in Provider(fake, http).StreamAsync(Ask(), Ct))
        {
            if (item is TextDelta)
            {
                first ??= clock.Elapsed;
            }
        }
        var end = clock.Elapsed;

        Assert.NotNull(first);
        Assert.True(end - first.Value > TimeSpan.FromMilliseconds(500), $"first delta at {first}, stream ended at {end}");
    }

    [Fact]
    public async Task StreamAsync_FunctionCallWithId_YieldsOneToolCallWithThatIdAndJsonArguments()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.ToolCall("fc_weather_1", "get_weather", new { city = "Zürich", days = 3 }));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(fake, http), Ask("Weather?"));

        var call = Assert.Single(events.OfType<ToolCallRequested>()).Call;
        Assert.Equal("fc_weather_1", call.CallId);
        Assert.Equal("get_weather", call.Name);
        using var arguments = JsonDocument.Parse(call.Arguments);
        Assert.Equal("Zürich", arguments.RootElement.GetProperty("city").GetString());
        Assert.Equal(3, arguments.RootElement.GetProperty("days").GetInt32());
    }

    [Fact]
    public async Task StreamAsync_FunctionCallsWithoutId_GetGeneratedUniqueIds()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(new ModelScript([new ToolCallStep("", "lookup", """{"q":"a"}"""), new ToolCallStep("", "lookup", """{"q":"b"}""")]));
        fake.Enqueue(new ModelScript([new ToolCallStep("", "lookup", """{"q":"c"}""")]));
        using var http = new HttpClient();
        var provider = Provider(fake, http);

        var first = await CollectAsync(provider, Ask());
        var second = await CollectAsync(provider, Ask());

        var ids = first.Concat(second).OfType<ToolCallRequested>().Select(c => c.Call.CallId).ToList();
        Assert.Equal(3, ids.Count);
        Assert.All(ids, id => Assert.False(string.IsNullOrWhiteSpace(id)));
        Assert.Equal(3, ids.Distinct().Count());
    }

    [Fact]
    public async Task StreamAsync_TextThenFunctionCall_YieldsTheTextThenTheCall()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.ToolCall("fc_1", "search", new { query = "portal" }, textBefore: "Let me look that up."));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(fake, http), Ask());

        var content = events.Where(e => e is not UsageReported).ToList();
        Assert.Equal(2, content.Count);
        Assert.Equal("Let me look that up.", Assert.IsType<TextDelta>(content[0]).Text);
        Assert.Equal("search", Assert.IsType<ToolCallRequested>(content[1]).Call.Name);
    }

    [Fact]
    public async Task StreamAsync_UsageMetadata_ReportedOnceAtTheEndWithTheFinalCounts()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(new ModelScript([new TextChunk("a"), new TextChunk("b"), new UsageStep(42, 7)]));
        using var http = new HttpClient();

        var events = await CollectAsync(Provider(fake, http), Ask());

        var usage = Assert.Single(events.OfType<UsageReported>());
        Assert.Same(usage, events[^1]);
        Assert.Equal(42, usage.InputTokens);
        Assert.Equal(7, usage.OutputTokens);
    }

    [Fact]
    public async Task StreamAsync_Conversation_MapsRolesInstructionsCallsAndResponses()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        using var http = new HttpClient();
        var request = new ModelRequest(Model, "You are terse.",
        [
            new UserMessage("Weather in Bern and Basel?"),
            new AssistantMessage("Checking.",
            [
                new ToolCall("fc_1", "get_weather", """{"city":"Bern"}"""),
                new ToolCall("fc_2", "get_weather", """{"city":"Basel"}"""),
            ]),
            new ToolResultMessage("fc_1", "get_weather", "sunny, 21 °C"),
            new ToolResultMessage("fc_2", "get_weather", """{"sky":"rain","celsius":14}"""),
            new AssistantMessage("Bern is sunny, Basel rainy.", []),
            new UserMessage("Thanks"),
        ], [], null, null);

        await CollectAsync(Provider(fake, http), request);

        var body = Assert.Single(fake.Requests).Body;
        Assert.Equal("You are terse.", body.GetProperty("systemInstruction").GetProperty("parts")[0].GetProperty("text").GetString());
        var contents = body.GetProperty("contents").EnumerateArray().ToList();
        Assert.Equal(["user", "model", "user", "model", "user"], contents.Select(c => c.GetProperty("role").GetString()));

        var modelParts = contents[1].GetProperty("parts");
        Assert.Equal("Checking.", modelParts[0].GetProperty("text").GetString());
        Assert.Equal("get_weather", modelParts[1].GetProperty("functionCall").GetProperty("name").GetString());
        Assert.Equal("Bern", modelParts[1].GetProperty("functionCall").GetProperty("args").GetProperty("city").GetString());
        Assert.Equal("Basel", modelParts[2].GetProperty("functionCall").GetProperty("args").GetProperty("city").GetString());
        // Gemini 3 refuses replayed calls without a thought signature; the first call of the turn carries one.
        Assert.True(modelParts[1].TryGetProperty("thoughtSignature", out _));
        Assert.False(modelParts[2].TryGetProperty("thoughtSignature", out _));

        var responses = contents[2].GetProperty("parts");
        Assert.Equal(2, responses.GetArrayLength());
        Assert.Equal("get_weather", responses[0].GetProperty("functionResponse").GetProperty("name").GetString());
        Assert.Equal("fc_1", responses[0].GetProperty("functionResponse").GetProperty("id").GetString());
        Assert.Equal("sunny, 21 °C", responses[0].GetProperty("functionResponse").GetProperty("response").GetProperty("output").GetString());
        Assert.Equal("rain", responses[1].GetProperty("functionResponse").GetProperty("response").GetProperty("sky").GetString());
        Assert.Equal("Thanks", contents[4].GetProperty("parts")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task StreamAsync_Tools_DeclaredWithSchemaKeywordsGeminiRejectsRemoved()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        using var http = new HttpClient();
        var parameters = Schema("""
            {
              "$schema": "http://json-schema.org/draft-07/schema#",
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "city": { "type": "string", "description": "City name", "format": "hostname" },
                "additionalProperties": { "type": ["string", "null"] },
                "stops": {
                  "type": "array",
                  "items": { "type": "object", "additionalProperties": false, "properties": { "at": { "type": "string", "format": "date-time" } } }
                }
              },
              "required": ["city"]
            }
            """);
        var request = Ask() with
        {
            Tools = [new ToolDefinition("plan_trip", "Plans a trip.", parameters), new ToolDefinition("now", "The time.", Schema("""{"type":"object","properties":{}}"""))],
        };

        await CollectAsync(Provider(fake, http), request);

        var declarations = Assert.Single(fake.Requests).Body.GetProperty("tools")[0].GetProperty("functionDeclarations");
        Assert.Equal("plan_trip", declarations[0].GetProperty("name").GetString());
        Assert.Equal("Plans a trip.", declarations[0].GetProperty("description").GetString());
        var cleaned = declarations[0].GetProperty("parameters");
        Assert.False(cleaned.TryGetProperty("$schema", out _));
        Assert.False(cleaned.TryGetProperty("additionalProperties", out _));
        Assert.Equal("city", cleaned.GetProperty("required")[0].GetString());
        var properties = cleaned.GetProperty("properties");
        Assert.Equal("City name", properties.GetProperty("city").GetProperty("description").GetString());
        Assert.False(properties.GetProperty("city").TryGetProperty("format", out _));
        // A property may be named like a keyword; only keywords go.
        Assert.Equal("string", properties.GetProperty("additionalProperties").GetProperty("type").GetString());
        Assert.True(properties.GetProperty("additionalProperties").GetProperty("nullable").GetBoolean());
        var item = properties.GetProperty("stops").GetProperty("items");
        Assert.False(item.TryGetProperty("additionalProperties", out _));
        Assert.Equal("date-time", item.GetProperty("properties").GetProperty("at").GetProperty("format").GetString());
        Assert.False(declarations[1].TryGetProperty("parameters", out _));
    }

    [Fact]
    public async Task StreamAsync_TemperatureAndMaxTokens_SentAsGenerationConfig()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        using var http = new HttpClient();

        await CollectAsync(Provider(fake, http), Ask() with { Temperature = 0.3, MaxTokens = 256 });

        var config = Assert.Single(fake.Requests).Body.GetProperty("generationConfig");
        Assert.Equal(0.3, config.GetProperty("temperature").GetDouble());
        Assert.Equal(256, config.GetProperty("maxOutputTokens").GetInt32());
    }

    [Fact]
    public async Task StreamAsync_NoInstructionsNoToolsNoSettings_LeavesThoseFieldsOut()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        using var http = new HttpClient();

        await CollectAsync(Provider(fake, http), Ask());

        var body = Assert.Single(fake.Requests).Body;
        Assert.False(body.TryGetProperty("systemInstruction", out _));
        Assert.False(body.TryGetProperty("tools", out _));
        Assert.False(body.TryGetProperty("generationConfig", out _));
    }

    [Fact]
    public async Task StreamAsync_Request_PutsTheModelInThePathAndTheKeyInTheHeaderOnly()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        using var http = new HttpClient();

        await CollectAsync(Provider(fake, http), Ask() with { Model = "gemini-2.5-pro" });

        var received = Assert.Single(fake.Requests);
        Assert.Equal("gemini-2.5-pro", Assert.Single(fake.Models));
        Assert.Equal("/v1beta/models/gemini-2.5-pro:streamGenerateContent", received.Path);
        Assert.Equal("?alt=sse", received.Query);
        Assert.Equal(Key, received.Headers["x-goog-api-key"].ToString());
        Assert.DoesNotContain(Key, received.Query, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_BaseUrlWithTrailingSlash_RequestGoesToThatServer()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        using var http = new HttpClient();
        var provider = new GeminiProvider(new ProviderEndpoint(Key, new Uri(fake.BaseAddress.AbsoluteUri.TrimEnd('/') + "/")), http);

        var events = await CollectAsync(provider, Ask());

        Assert.Single(fake.Requests);
        Assert.NotEmpty(events.OfType<TextDelta>());
    }

    [Fact]
    public async Task StreamAsync_Unauthorized_ThrowsProviderAuthNotRetryable()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Failure(401, "Request had invalid authentication credentials."));
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Equal("provider_auth", error.Code);
        Assert.False(error.Retryable);
        Assert.Contains("Request had invalid authentication credentials.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_MissingKey_ThrowsProviderAuthWithGooglesMessage()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http, key: ""), Ask());

        Assert.Equal("provider_auth", error.Code);
        Assert.False(error.Retryable);
        Assert.Contains("PERMISSION_DENIED", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_WrongKey_ThrowsProviderAuthWithoutTheKey()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.ValidApiKey = "AIzaSy-the-right-one";
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Equal("provider_auth", error.Code);
        Assert.Contains("API key not valid", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_ErrorMessageEchoingTheKey_KeyIsRedacted()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Failure(400, $"Key {Key} is not allowed for this model."));
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Contains("is not allowed for this model.", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_RateLimitedWithRetryAfterHeader_ThrowsRateLimitedRetryableWithTheDelay()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Failure(429, "Resource has been exhausted (e.g. check quota).", retryAfterSeconds: 7));
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Equal("rate_limited", error.Code);
        Assert.True(error.Retryable);
        Assert.Equal(TimeSpan.FromSeconds(7), error.RetryAfter);
        Assert.Contains("Resource has been exhausted", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_RateLimitedWithRetryInfoOnly_TakesTheDelayFromTheErrorDetails()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.RetryDelayOnlyInBody = true;
        fake.Enqueue(ModelScript.Failure(429, "Quota exceeded.", retryAfterSeconds: 12));
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Equal("rate_limited", error.Code);
        Assert.Equal(TimeSpan.FromSeconds(12), error.RetryAfter);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(504)]
    public async Task StreamAsync_ServerError_ThrowsProviderUnavailableRetryable(int status)
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Failure(status, "The model is overloaded. Please try again later."));
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Equal("provider_unavailable", error.Code);
        Assert.True(error.Retryable);
        Assert.Contains("The model is overloaded.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_BadRequest_ThrowsBadRequestWithTheApisMessage()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Failure(400, "* GenerateContentRequest.contents: contents is not specified"));
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Equal("bad_request", error.Code);
        Assert.False(error.Retryable);
        Assert.Contains("contents is not specified", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_ConnectionRefused_ThrowsProviderUnavailableRetryable()
    {
        using var http = new HttpClient();
        var provider = new GeminiProvider(new ProviderEndpoint(Key, new Uri("http://127.0.0.1:1")), http);

        var error = await FailureAsync(provider, Ask());

        Assert.Equal("provider_unavailable", error.Code);
        Assert.True(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_ConnectionBreaksAfterText_ThrowsStreamBrokenNotRetryableAfterTheEarlierDeltas()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(new ModelScript([new TextChunk("Once"), new TextChunk(" upon"), new BreakStep(), new TextChunk(" a time")]));
        using var http = new HttpClient();
        var received = new List<ModelStreamEvent>();

        var error = await FailureAsync(Provider(fake, http), Ask(), received);

        Assert.Equal("stream_broken", error.Code);
        Assert.False(error.Retryable);
        Assert.Equal(["Once", " upon"], received.OfType<TextDelta>().Select(d => d.Text));
    }

    [Fact]
    public async Task StreamAsync_ConnectionBreaksBeforeAnything_ThrowsStreamBrokenRetryable()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(new ModelScript([new BreakStep()]));
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Equal("stream_broken", error.Code);
        Assert.True(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_BlockedPrompt_ThrowsBlockedNotRetryable()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.PromptBlockReason = "PROHIBITED_CONTENT";
        using var http = new HttpClient();

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Equal("blocked", error.Code);
        Assert.False(error.Retryable);
        Assert.Contains("PROHIBITED_CONTENT", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamAsync_NoAnswerWithinTheClientTimeout_ThrowsTimeoutRetryable()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Text("late") with { FirstByteDelay = TimeSpan.FromSeconds(10) });
        using var http = new HttpClient { Timeout = TimeSpan.FromMilliseconds(300) };

        var error = await FailureAsync(Provider(fake, http), Ask());

        Assert.Equal("timeout", error.Code);
        Assert.True(error.Retryable);
    }

    [Fact]
    public async Task StreamAsync_CallerCancelsMidStream_ThrowsOperationCanceled()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Text("one", " two", " three", " four") with { ChunkDelay = TimeSpan.FromMilliseconds(300) });
        using var http = new HttpClient();
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var received = new List<ModelStreamEvent>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var item in Provider(fake, http).StreamAsync(Ask(), cancellation.Token))
            {
                received.Add(item);
                await cancellation.CancelAsync();
            }
        });

        Assert.Single(received);
    }

    [Fact]
    public async Task StreamAsync_CallerCancelsBeforeTheAnswer_ThrowsOperationCanceled()
    {
        await using var fake = await FakeGeminiServer.StartAsync();
        fake.Enqueue(ModelScript.Text("late") with { FirstByteDelay = TimeSpan.FromSeconds(10) });
        using var http = new HttpClient();
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancellation.CancelAfter(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var item in Provider(fake, http).StreamAsync(Ask(), cancellation.Token))
            {
            }
        });
    }
}
