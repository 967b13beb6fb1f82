using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Agents;

/// <summary>
/// The agent loop end to end over <c>/ws/agent</c>: real Kestrel, real SQLite, a raw <see cref="ClientWebSocket"/>,
/// and a fake OpenAI server streaming in the real format (tool calls included) as the model.
/// </summary>
public sealed class AgentSocketTests : IAsyncLifetime
{
    private FakeOpenAiServer _model = default!;
    private string _workspace = default!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _model = await FakeOpenAiServer.StartAsync();
        _workspace = Directory.CreateTempSubdirectory("portal-ws-").FullName;
    }

    public async ValueTask DisposeAsync()
    {
        await _model.DisposeAsync();
        Directory.Delete(_workspace, recursive: true);
    }

    private Task<PortalTestServer> StartPortalAsync(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Portal:Agents:Provider"] = "openai",
            ["Portal:Agents:Model"] = "gpt-test",
            ["Portal:Agents:BaseUrl"] = new Uri(_model.BaseAddress, "/v1").ToString(),
            ["Portal:Agents:Keys:OpenAI"] = "sk-test-key-0123456789",
            ["Portal:Agents:WorkingDirectory"] = _workspace,
            ["Portal:Agents:RetryDelay"] = "00:00:00.050",
        };
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }
        return PortalTestServer.StartAsync(settings);
    }

    private static async Task<AgentSocketClient> ConnectAsync(PortalTestServer portal, string query = "") =>
        await AgentSocketClient.ConnectAsync(portal, await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail), query);

    private static ModelScript Shell(string callId, params string[] argv) => ModelScript.ToolCall(callId, "shell", new { command = argv }, "Let me do that.");

    [Fact]
    public async Task PlainRequest_Gets400_AndAnonymousUpgrade_Gets401()
    {
        await using var portal = await StartPortalAsync();
        using var http = portal.CreateClient();

        using var plain = await http.GetAsync("/ws/agent", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.Equal("Expected WebSocket request", await plain.Content.ReadAsStringAsync(Ct));

        using var socket = new ClientWebSocket();
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(
            new UriBuilder(portal.BaseAddress) { Scheme = "ws", Path = "/ws/agent" }.Uri, Ct));
        Assert.Contains("401", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("SELF", true)]
    [InlineData("https://tools.example.com", true)]
    [InlineData("https://evil.example.com", false)]
    [InlineData("http://127.0.0.1:1", false)]
    [InlineData("null", false)]
    public async Task Upgrade_ChecksTheOriginBeforeAnything(string? origin, bool accepted)
    {
        await using var portal = await StartPortalAsync(new() { ["Portal:Sockets:AllowedOrigins:0"] = "https://tools.example.com" });
        var cookies = await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail);
        foreach (var path in new[] { "/ws/agent", "/ws/chat" })
        {
            using var socket = new ClientWebSocket();
            socket.Options.Cookies = cookies;
            if (origin is not null)
            {
                socket.Options.SetRequestHeader("Origin", origin == "SELF" ? portal.BaseAddress.GetLeftPart(UriPartial.Authority) : origin);
            }
            var uri = new UriBuilder(portal.BaseAddress) { Scheme = "ws", Path = path }.Uri;
            if (accepted)
            {
                await socket.ConnectAsync(uri, Ct);
                Assert.Equal(WebSocketState.Open, socket.State);
                socket.Abort();
            }
            else
            {
                var refused = await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(uri, Ct));
                Assert.Contains("403", refused.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Input_TooLargeToKeepWholeInTheLog_IsRefused_AndTheSessionGoesOn()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(ModelScript.Text("Fine."));
        await using var client = await ConnectAsync(portal);

        // 100,000 characters, under the 256,000 limit, but 300 KB of UTF-8: the log would keep only a preview.
        await client.SendInputAsync(new string('\u20ac', 100_000));
        var error = await client.WaitForAsync("error");
        await client.SendInputAsync("a normal question");
        var finished = await client.WaitForAsync("agent_finished");

        Assert.Equal("input_too_long", error.Text("code"));
        Assert.Contains("Portal:Sessions:MaxStoredPayloadBytes", error.Text("message"), StringComparison.Ordinal);
        Assert.Equal("completed", finished.Text("status"));
        Assert.Single(_model.Requests);
    }

    [Fact]
    public async Task ToolCall_Approved_RunsInTheWorkingDirectory_AndTheModelSeesTheOutput()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(Shell("call_1", "touch", "made-by-agent.txt"), ModelScript.Text("Created", " the file."));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("make a file");
        var request = await client.WaitForAsync("approval_request");
        Assert.Equal("call_1", request.Text("callId"));
        Assert.Equal(["touch", "made-by-agent.txt"], request.Payload.GetProperty("command").EnumerateArray().Select(a => a.GetString()));
        Assert.False(File.Exists(Path.Combine(_workspace, "made-by-agent.txt")));

        await client.SendAsync("approval_response", new { review = "YES" });
        var finished = await client.WaitForAsync("agent_finished");

        Assert.Equal("completed", finished.Text("status"));
        Assert.True(File.Exists(Path.Combine(_workspace, "made-by-agent.txt")));
        var output = client.Received.Single(f => f.Type == "response_item" && f.Text("type") == "function_call_output");
        Assert.Equal("call_1", output.Text("call_id"));
        Assert.Equal("Let me do that.Created the file.", client.Deltas());
        // The second request carried the tool's result back to the model.
        var second = _model.Requests.ToArray()[1].Body.GetProperty("messages").EnumerateArray().Last();
        Assert.Equal(("tool", "call_1"), (second.GetProperty("role").GetString(), second.GetProperty("tool_call_id").GetString()));
        // One turn: loading true once, false once, one agent_finished, and frames in seq order.
        Assert.Equal([true, false], client.Received.Where(f => f.Type == "loading_state").Select(f => f.Payload.GetProperty("loading").GetBoolean()));
        Assert.Single(client.Received, f => f.Type == "agent_finished");
        Assert.Equal(client.Received.Select(f => f.Seq).Order(), client.Received.Select(f => f.Seq));
        // Usage of the turn: both model calls (20 + 12 in, 10 + 2 out).
        Assert.Equal((32, 12), (finished.Payload.GetProperty("usage").GetProperty("inputTokens").GetInt32(), finished.Payload.GetProperty("usage").GetProperty("outputTokens").GetInt32()));
    }

    [Fact]
    public async Task Always_RemembersTheExactCommandForTheSession_ButNotASimilarOne()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(
            Shell("call_1", "touch", "a.txt"), ModelScript.Text("Done."),
            Shell("call_2", "touch", "a.txt"), ModelScript.Text("Done again."),
            Shell("call_3", "touch", "b.txt"), ModelScript.Text("Done with b."));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("first");
        await client.WaitForAsync("approval_request");
        await client.SendAsync("approval_response", new { review = "always" });
        await client.WaitForAsync("agent_finished");

        await client.SendInputAsync("again");
        var second = await client.WaitForAsync("agent_finished");
        Assert.Equal("completed", second.Text("status"));
        Assert.Single(client.Received, f => f.Type == "approval_request");

        await client.SendInputAsync("another file");
        var third = await client.WaitForAsync("approval_request");
        Assert.Equal("call_3", third.Text("callId"));
        await client.SendAsync("approval_response", new { review = "no-exit" });
        await client.WaitForAsync("agent_finished", f => f.Text("runId") == third.Text("runId"));
    }

    [Fact]
    public async Task DenyAndContinue_TellsTheModelAborted_WithTheUsersMessage_AndTheTurnGoesOn()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(Shell("call_1", "rm", "-rf", "data"), ModelScript.Text("Fine, I left it alone."));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("clean up");
        await client.WaitForAsync("approval_request");
        await client.SendAsync("approval_response", new { review = "NO_CONTINUE", customDenyMessage = "keep the data folder" });
        var finished = await client.WaitForAsync("agent_finished");

        Assert.Equal("completed", finished.Text("status"));
        var output = client.Received.Single(f => f.Type == "response_item" && f.Text("type") == "function_call_output");
        Assert.Equal("aborted: keep the data folder", output.Text("output"));
        Assert.Equal(2, _model.Requests.Count);
    }

    [Fact]
    public async Task DenyAndStop_EndsTheTurnDenied_WithoutAskingTheModelAgain()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(Shell("call_1", "rm", "-rf", "data"));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("clean up");
        await client.WaitForAsync("approval_request");
        await client.SendAsync("approval_response", new { review = "NO" });
        var finished = await client.WaitForAsync("agent_finished");

        Assert.Equal("denied", finished.Text("status"));
        Assert.Single(_model.Requests);
        Assert.StartsWith("aborted", client.Received.Single(f => f.Text("type") == "function_call_output").Text("output"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_LogsTheModelsExplanation_AndAsksAgain_NeverRunningOnItsOwn()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(Shell("call_1", "touch", "x.txt"), ModelScript.Text("It creates", " an empty file."), ModelScript.Text("Done."));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("make x");
        await client.WaitForAsync("approval_request");
        await client.SendAsync("approval_response", new { review = "EXPLAIN" });
        var explanation = await client.WaitForAsync("response_item", f => f.Text("explains") == "call_1");
        var again = await client.WaitForAsync("approval_request");

        Assert.Equal("It creates an empty file.", explanation.Payload.GetProperty("content")[0].GetProperty("text").GetString());
        var explained = client.Received.Where(f => f.Type == "response_delta" && f.Text("itemId") == explanation.Text("id")).ToList();
        Assert.NotEmpty(explained);
        Assert.All(explained, f => Assert.Equal("call_1", f.Text("explains"))); // the stream says what it explains, not only the item
        Assert.True(again.Payload.GetProperty("repeated").GetBoolean());
        Assert.False(File.Exists(Path.Combine(_workspace, "x.txt")));
        var explainRequest = _model.Requests.ToArray()[1].Body;
        Assert.Empty(explainRequest.TryGetProperty("tools", out var tools) ? tools.EnumerateArray() : default(JsonElement.ArrayEnumerator));

        await client.SendAsync("approval_response", new { review = "explain" });
        await client.WaitForAsync("approval_request", f => f.Seq > again.Seq);
        await client.SendAsync("approval_response", new { review = "yes", callId = "call_1" });
        Assert.Equal("completed", (await client.WaitForAsync("agent_finished")).Text("status"));
        Assert.True(File.Exists(Path.Combine(_workspace, "x.txt")));
    }

    [Fact]
    public async Task Cancel_MidStream_KeepsThePartialTextMarkedIncomplete()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(ModelScript.Text(Enumerable.Range(0, 200).Select(i => $"w{i} ").ToArray()) with { ChunkDelay = TimeSpan.FromMilliseconds(20) });
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("tell me a long story");
        await client.WaitForAsync("response_delta");
        await client.WaitForAsync("response_delta");
        await client.SendAsync("cancel");
        var finished = await client.WaitForAsync("agent_finished");

        Assert.Equal("cancelled", finished.Text("status"));
        var partial = client.Received.Single(f => f.Type == "response_item");
        Assert.Equal("incomplete", partial.Text("status"));
        var text = partial.Payload.GetProperty("content")[0].GetProperty("text").GetString();
        Assert.Equal(client.Deltas(), text);
        Assert.StartsWith("w0 w1 ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("w199", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disconnect_MidStream_ThenResumeFromTheLastSeq_LosesAndRepeatsNoToken()
    {
        await using var portal = await StartPortalAsync();
        var words = Enumerable.Range(0, 60).Select(i => $"t{i} ").ToArray();
        _model.Enqueue(ModelScript.Text(words) with { ChunkDelay = TimeSpan.FromMilliseconds(15) });
        var cookies = await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail);
        string sessionId;
        long lastSeq;
        string firstPart;
        await using (var first = await AgentSocketClient.ConnectAsync(portal, cookies))
        {
            sessionId = first.SessionId!;
            await first.SendInputAsync("stream please");
            for (var i = 0; i < 5; i++)
            {
                await first.WaitForAsync("response_delta");
            }
            lastSeq = first.Received[^1].Seq;
            firstPart = first.Deltas();
        }
        // The run belongs to the session: it goes on while nobody is connected.
        await Task.Delay(300, Ct);

        await using var second = await AgentSocketClient.ConnectAsync(portal, cookies, $"sessionId={sessionId}&afterSeq={lastSeq}");
        var finished = await second.WaitForAsync("agent_finished");

        Assert.Equal("completed", finished.Text("status"));
        Assert.Equal(string.Concat(words), firstPart + second.Deltas());
        Assert.All(second.Received.Skip(1), f => Assert.True(f.Seq > lastSeq));
        Assert.True(second.Received[0].Payload.GetProperty("resumed").GetBoolean());
        // Its id carries the position the client resumed from, so resuming again from the last id received loses nothing.
        Assert.Equal(lastSeq, second.Received[0].Seq);
    }

    [Fact]
    public async Task ResumeFrame_SwitchesToTheSession_AndReplaysItsFramesWithTheSameIds()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(ModelScript.Text("One", " two."));
        var cookies = await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail);
        List<AgentFrame> original;
        string sessionId;
        await using (var first = await AgentSocketClient.ConnectAsync(portal, cookies))
        {
            sessionId = first.SessionId!;
            await first.SendInputAsync("count");
            await first.WaitForAsync("agent_finished");
            original = first.Received.Skip(1).ToList();
        }

        await using var second = await AgentSocketClient.ConnectAsync(portal, cookies);
        var unused = second.SessionId!;
        await second.SendAsync("resume", new { sessionId, afterSeq = 0 });
        await second.WaitForAsync("session_started", f => f.Text("sessionId") == sessionId);
        await second.WaitForAsync("agent_finished");

        var replayed = second.Received.SkipWhile(f => f.Text("sessionId") != sessionId).Skip(1).ToList();
        Assert.Equal(original.Select(f => (f.Id, f.Type)), replayed.Select(f => (f.Id, f.Type)));
        using var http = portal.CreateClient(cookies);
        // The session the second connection opened with was never used, so resuming elsewhere left nothing behind.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/sessions/{unused}", Ct)).StatusCode);
    }

    [Fact]
    public async Task InputWhileATurnRuns_IsBusy_UnlessItAsksToCancelTheCurrentTurn()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(ModelScript.Text(Enumerable.Range(0, 100).Select(i => $"x{i} ").ToArray()) with { ChunkDelay = TimeSpan.FromMilliseconds(20) },
            ModelScript.Text("Second answer."));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("first");
        await client.WaitForAsync("response_delta");
        await client.SendInputAsync("second");
        var busy = await client.WaitForAsync("error");
        Assert.Equal("busy", busy.Text("code"));
        Assert.True(busy.Payload.GetProperty("inputSeq").GetInt64() > 0);

        await client.SendInputAsync("third", cancelCurrent: true);
        var cancelled = await client.WaitForAsync("agent_finished");
        Assert.Equal("cancelled", cancelled.Text("status"));
        var completed = await client.WaitForAsync("agent_finished");
        Assert.Equal("completed", completed.Text("status"));
        var lastRequest = _model.Requests.ToArray()[^1].Body.GetProperty("messages").EnumerateArray()
            .Where(m => m.GetProperty("role").GetString() == "user").Select(m => m.GetProperty("content").ToString()).ToList();
        Assert.Equal(["first", "third"], lastRequest);
    }

    [Fact]
    public async Task BadApprovals_GetPreciseErrors_AndTheSessionGoesOn()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(Shell("call_1", "touch", "y.txt"), ModelScript.Text("Done."));
        await using var client = await ConnectAsync(portal);

        await client.SendAsync("approval_response", new { review = "yes" });
        Assert.Equal("no_pending_approval", (await client.WaitForAsync("error")).Text("code"));

        await client.SendInputAsync("make y");
        await client.WaitForAsync("approval_request");
        await client.SendAsync("approval_response", new { review = "yes", callId = "call_999" });
        Assert.Equal("unknown_call_id", (await client.WaitForAsync("error", f => f.Text("code") != "no_pending_approval")).Text("code"));
        await client.SendAsync("approval_response", new { review = "maybe" });
        Assert.Equal("invalid_payload", (await client.WaitForAsync("error", f => f.Text("code") == "invalid_payload")).Text("code"));

        await client.SendAsync("approval_response", new { review = "Yes", callId = "call_1" });
        Assert.Equal("completed", (await client.WaitForAsync("agent_finished")).Text("status"));
    }

    [Fact]
    public async Task MalformedFrames_GetPreciseErrors_AndAreRecorded_TheConnectionStaysUsable()
    {
        await using var portal = await StartPortalAsync();
        await using var client = await ConnectAsync(portal);

        await client.SendRawAsync("{not json");
        Assert.Equal("invalid_json", (await client.WaitForAsync("error")).Text("code"));
        await client.SendRawAsync("""{"id":"1","type":"launch_missiles","payload":{}}""");
        Assert.Equal("unknown_type", (await client.WaitForAsync("error", f => f.Text("code") != "invalid_json")).Text("code"));
        await client.SendRawAsync("""[1,2,3]""");
        Assert.Equal("invalid_frame", (await client.WaitForAsync("error", f => f.Text("code") == "invalid_frame")).Text("code"));
        await client.SendRawAsync("""{"type":"user_input","payload":{"input":[]}}""");
        Assert.Equal("invalid_payload", (await client.WaitForAsync("error", f => f.Text("code") == "invalid_payload")).Text("code"));

        await client.SendInputAsync("still there?");
        Assert.Equal("completed", (await client.WaitForAsync("agent_finished")).Text("status"));
        using var http = portal.CreateClient(await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail));
        var export = await http.GetStringAsync($"/api/sessions/{client.SessionId}/export.jsonl", Ct);
        Assert.Contains("\"type\":\"unreadable_frame\"", export, StringComparison.Ordinal);
        Assert.Contains("{not json", export, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OversizedFrame_ClosesWith1009_AndFlood_ClosesWith1008_WhileOthersAreServed()
    {
        await using var portal = await StartPortalAsync(new()
        {
            ["Portal:Sockets:MaxMessageBytes"] = "4096",
            ["Portal:Sockets:MessagesPerSecond"] = "5",
            ["Portal:Sockets:Burst"] = "5",
            ["Portal:Sockets:FloodCloseAfter"] = "50",
        });
        await using var big = await ConnectAsync(portal);
        await big.SendRawAsync("{\"type\":\"user_input\",\"payload\":{\"text\":\"" + new string('a', 10_000) + "\"}}");
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await big.WaitForCloseAsync());
        Assert.Contains(big.Received, f => f.Type == "error" && f.Text("code") == "message_too_big");

        await using var flooder = await ConnectAsync(portal);
        for (var i = 0; i < 200 && flooder.CloseStatus is null; i++)
        {
            try
            {
                await flooder.SendAsync("get_context_info");
            }
            catch (WebSocketException)
            {
                break;
            }
        }
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await flooder.WaitForCloseAsync());
        Assert.Contains(flooder.Received, f => f.Type == "error" && f.Text("code") == "rate_limited");

        await using var other = await ConnectAsync(portal);
        await other.SendInputAsync("hello");
        Assert.Equal("completed", (await other.WaitForAsync("agent_finished")).Text("status"));
    }

    [Fact]
    public async Task ProviderRefusesTheKey_TheTurnFailsWithAProviderAuthError()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(ModelScript.Failure(401, "Incorrect API key provided"));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("hi");
        var finished = await client.WaitForAsync("agent_finished");

        var error = client.Received.Single(f => f.Type == "error");
        Assert.Equal("provider_auth", error.Text("code"));
        Assert.Equal("failed", finished.Text("status"));
        Assert.Single(_model.Requests);
        Assert.DoesNotContain("sk-test-key", string.Join("\n", client.Received.Select(f => f.Payload.ToString())), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RateLimitAndServerErrors_AreRetriedWithBackoff_BeforeAnythingStreamed()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(ModelScript.Failure(429, "Rate limit reached", retryAfterSeconds: 1), ModelScript.Failure(503, "overloaded"), ModelScript.Text("Finally."));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("hi");
        var finished = await client.WaitForAsync("agent_finished");

        Assert.Equal("completed", finished.Text("status"));
        Assert.Equal("Finally.", client.Deltas());
        var retries = client.Received.Where(f => f.Type == "error").ToList();
        Assert.Equal(["rate_limited", "provider_unavailable"], retries.Select(f => f.Text("code")));
        Assert.All(retries, f => Assert.True(f.Payload.GetProperty("retrying").GetBoolean()));
        Assert.Equal(3, _model.Requests.Count);
    }

    [Fact]
    public async Task StreamBrokenMidAnswer_IsNotRetried_ThePartialTextIsKept_AndTheTurnFails()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(new ModelScript([new TextChunk("Half an "), new TextChunk("answer"), new BreakStep()]));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("hi");
        var finished = await client.WaitForAsync("agent_finished");

        Assert.Equal("failed", finished.Text("status"));
        Assert.Equal("stream_broken", client.Received.Single(f => f.Type == "error").Text("code"));
        Assert.Equal("incomplete", client.Received.Single(f => f.Type == "response_item").Text("status"));
        Assert.Single(_model.Requests);
    }

    [Fact]
    public async Task AnUnansweredApproval_IsDeniedWhenItsTimeoutPasses()
    {
        await using var portal = await StartPortalAsync(new() { ["Portal:Agents:ApprovalTimeout"] = "00:00:00.500" });
        _model.Enqueue(Shell("call_1", "touch", "late.txt"));
        await using var client = await ConnectAsync(portal);

        await client.SendInputAsync("make it");
        await client.WaitForAsync("approval_request");
        var finished = await client.WaitForAsync("agent_finished");

        Assert.Equal("denied", finished.Text("status"));
        Assert.False(File.Exists(Path.Combine(_workspace, "late.txt")));
        await client.SendAsync("approval_response", new { review = "yes" });
        Assert.Equal("no_pending_approval", (await client.WaitForAsync("error")).Text("code"));
    }

    [Fact]
    public async Task AnotherUsersSession_CannotBeResumed()
    {
        await using var portal = await StartPortalAsync();
        await portal.CreateUserAsync("bob@portal.test");
        await using var admin = await ConnectAsync(portal);
        var bob = await AgentSocketClient.SignInAsync(portal, "bob@portal.test");

        var refused = await Assert.ThrowsAsync<WebSocketException>(() =>
            AgentSocketClient.ConnectAsync(portal, bob, $"sessionId={admin.SessionId}"));
        Assert.Contains("404", refused.Message, StringComparison.Ordinal);

        await using var own = await AgentSocketClient.ConnectAsync(portal, bob);
        await own.SendAsync("resume", new { sessionId = admin.SessionId, afterSeq = 0 });
        Assert.Equal("session_not_found", (await own.WaitForAsync("error")).Text("code"));
    }

    [Fact]
    public async Task ContextInfo_AndManualCompact_AnswerWithTheirFrames()
    {
        await using var portal = await StartPortalAsync(new() { ["Portal:Agents:KeepTurns"] = "1" });
        _model.Enqueue(ModelScript.Text("First answer."), ModelScript.Text("Second answer."), ModelScript.Text("A summary of the first turn."));
        await using var client = await ConnectAsync(portal);
        await client.SendInputAsync("first question");
        await client.WaitForAsync("agent_finished");
        await client.SendInputAsync("second question");
        await client.WaitForAsync("agent_finished", f => f.Seq > client.Received.First(r => r.Type == "agent_finished").Seq);

        await client.SendAsync("get_context_info");
        var info = await client.WaitForAsync("context_info");
        Assert.Equal(4, info.Payload.GetProperty("transcriptLength").GetInt32());
        Assert.Equal("threshold", info.Text("strategy"));

        await client.SendAsync("manual_compact");
        var compacted = await client.WaitForAsync("context_compacted");
        Assert.Equal(2, compacted.Payload.GetProperty("replacedMessages").GetInt32());
        Assert.Equal("A summary of the first turn.", compacted.Text("summary"));
        Assert.True(compacted.Payload.GetProperty("newTokenCount").GetInt32() < compacted.Payload.GetProperty("oldTokenCount").GetInt32());
    }

    [Fact]
    public async Task Export_ReproducesTheSeedLogFormat()
    {
        await using var portal = await StartPortalAsync();
        _model.Enqueue(ModelScript.Text("Hi."));
        var cookies = await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail);
        await using var client = await AgentSocketClient.ConnectAsync(portal, cookies);
        await client.SendInputAsync("hello");
        var finished = await client.WaitForAsync("agent_finished");

        using var http = portal.CreateClient(cookies);
        var lines = (await http.GetStringAsync($"/api/sessions/{client.SessionId}/export.jsonl", Ct))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();

        Assert.Equal("session_started", lines[0].GetProperty("message_data").GetProperty("event").GetString());
        var input = lines.Single(l => l.GetProperty("message_data").TryGetProperty("type", out var t) && t.GetString() == "user_input");
        Assert.Equal(("websocket_message_received", "incoming"), (input.GetProperty("event_type").GetString(), input.GetProperty("direction").GetString()));
        var sent = lines.Single(l => l.GetProperty("message_data").TryGetProperty("type", out var t) && t.GetString() == "agent_finished");
        Assert.Equal(("websocket_message_sent", "outgoing"), (sent.GetProperty("event_type").GetString(), sent.GetProperty("direction").GetString()));
        Assert.Equal(finished.Id, sent.GetProperty("message_data").GetProperty("id").GetString());
    }

    [Fact]
    public async Task PendingApproval_SurvivesAGracefulRestartWithTheClientAttached_AndItsAnswerContinuesTheTurn()
    {
        var data = Directory.CreateTempSubdirectory("portal-restart-").FullName;
        var database = new Dictionary<string, string?> { ["Portal:Sessions:DatabasePath"] = Path.Combine(data, "portal.db") };
        try
        {
            _model.Enqueue(Shell("call_r", "touch", "after-restart.txt"), ModelScript.Text("Done."));
            string sessionId;
            long lastSeq;
            var first = await StartPortalAsync(database);
            var cookies = await AgentSocketClient.SignInAsync(first, PortalTestServer.AdminEmail);
            await using (var client = await AgentSocketClient.ConnectAsync(first, cookies))
            {
                sessionId = client.SessionId!;
                await client.SendInputAsync("make a file");
                lastSeq = (await client.WaitForAsync("approval_request")).Seq;
                var stopping = first.DisposeAsync().AsTask();
                Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await client.WaitForCloseAsync());
                await stopping;
            }

            await using var second = await StartPortalAsync(database);
            await using var resumed = await AgentSocketClient.ConnectAsync(second, cookies, $"sessionId={sessionId}&afterSeq={lastSeq}");
            await resumed.SendAsync("approval_response", new { review = "yes", callId = "call_r" });
            var finished = await resumed.WaitForAsync("agent_finished");

            Assert.Equal("completed", finished.Text("status"));
            Assert.True(File.Exists(Path.Combine(_workspace, "after-restart.txt")));
            Assert.DoesNotContain(resumed.Received, f => f.Type == "error");
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Shutdown_ClosesConnectionsWith1001()
    {
        var portal = await StartPortalAsync();
        var client = await ConnectAsync(portal);

        var stopping = portal.DisposeAsync().AsTask();
        var status = await client.WaitForCloseAsync();
        await stopping;
        await client.DisposeAsync();

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status);
    }
}
