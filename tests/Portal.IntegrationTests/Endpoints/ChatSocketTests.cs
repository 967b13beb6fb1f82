using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Portal.Agents.Runtime;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.IntegrationTests.Endpoints;

/// <summary><c>/ws/chat</c> (seed 002) on real Kestrel, driven by a raw <see cref="ClientWebSocket"/>.</summary>
public sealed class ChatSocketTests
{
    private const string OfflineLabel = "**Offline agent**";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 30_000)]
    public async Task Get_PlainHttpRequest_Is400ExpectedWebSocketRequest()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = server.CreateClient();

        using var response = await client.GetAsync("/ws/chat", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Expected WebSocket request", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task Connect_NotSignedIn_Is401()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(ChatClient.Uri(server), Ct));

        Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);
    }

    [Fact(Timeout = 30_000)]
    public async Task Connect_SignedIn_WelcomesWithTheIdOfANewChatWsSession()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        var session = await server.Services.GetRequiredService<ISessionStore>().GetAsync(client.SessionId, Ct);

        Assert.Equal("notification", client.Welcome.GetProperty("type").GetString());
        Assert.Equal($"Connected to Portal. Session {client.SessionId}.", client.Welcome.GetProperty("content").GetString());
        Assert.True(DateTimeOffset.TryParse(client.Welcome.GetProperty("timestamp").GetString(), out _));
        Assert.NotNull(session);
        Assert.Equal(SessionKinds.ChatWebSocket, session.Kind);
        Assert.Equal(SessionStatuses.Active, session.Status);
    }

    [Fact(Timeout = 30_000)]
    public async Task Query_IsAnsweredWithThinkingThenTheResponseCarryingItsCorrelationId()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type = "query", content = "Tell me about WebSocket technology.", timestamp = "2023-01-01T00:00:00.000Z", id = "q-1" });
        var status = await client.ReceiveAsync();
        var response = await client.ReceiveAsync();

        Assert.Equal(("status", "Thinking...", "q-1"), (Type(status), Content(status), CorrelationId(status)));
        Assert.Equal(("response", "q-1"), (Type(response), CorrelationId(response)));
        Assert.StartsWith(OfflineLabel, Content(response), StringComparison.Ordinal);
        Assert.Contains("Tell me about WebSocket technology.", Content(response), StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Query_WithoutAnId_GetsAGeneratedCorrelationIdSharedByStatusAndResponse()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type = "query", content = "hello" });
        var status = await client.ReceiveAsync();
        var response = await client.ReceiveAsync();

        Assert.False(string.IsNullOrEmpty(CorrelationId(status)));
        Assert.Equal(CorrelationId(status), CorrelationId(response));
    }

    [Fact(Timeout = 30_000)]
    public async Task Query_SeveralSentAtOnce_AreAnsweredInOrder()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        foreach (var word in new[] { "first", "second", "third" })
        {
            await client.SendAsync(new { type = "query", content = $"the {word} question", correlationId = word });
        }
        var responses = new List<JsonElement>();
        while (responses.Count < 3)
        {
            var frame = await client.ReceiveAsync();
            if (Type(frame) == "response")
            {
                responses.Add(frame);
            }
        }

        Assert.Equal(["first", "second", "third"], responses.Select(CorrelationId));
        Assert.All(responses, r => Assert.Contains($"the {CorrelationId(r)} question", Content(r), StringComparison.Ordinal));
    }

    [Fact(Timeout = 30_000)]
    public async Task Query_FollowUp_IsASecondTurnOfTheSameSessionThatSendsTheEarlierTurnToTheModel()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        var first = await client.AskAsync("What is a WebSocket?");
        var second = await client.AskAsync("What is a WebSocket?");
        var events = await EventsAsync(server, client.SessionId);

        Assert.StartsWith(OfflineLabel, first, StringComparison.Ordinal);
        Assert.StartsWith(OfflineLabel, second, StringComparison.Ordinal);
        var queries = events.Where(e => e is { Direction: EventDirections.In, Type: "query" }).Select(e => e.Seq).ToList();
        var runs = events.Where(e => e.Type == EventTypes.RunStarted).Select(e => AgentJson.Read<RunStartedPayload>(e.Payload)!).ToList();
        Assert.Equal(queries, runs.Select(r => r.InputSeq));
        Assert.All(runs, r => Assert.False(r.ToolsEnabled));
        // The offline model reports the size of what it was sent: the second request carried the first question and answer.
        var usage = InputTokens(events);
        Assert.Equal(2, usage.Count);
        Assert.True(usage[1] >= usage[0] + first.Length / 4 - 1, $"input tokens {usage[0]} then {usage[1]}");
    }

    [Fact(Timeout = 30_000)]
    public async Task Query_WithMaxHistoryTwo_SendsOnlyTheLatestQuestionToTheModel()
    {
        // Two messages would be the first answer and the follow-up; a window starts at a question, so only the follow-up is sent.
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Agents:MaxHistory"] = "2" });
        await using var client = await ChatClient.ConnectAsync(server);

        await client.AskAsync("What is a WebSocket?");
        await client.AskAsync("What is a WebSocket?");
        var usage = InputTokens(await EventsAsync(server, client.SessionId));

        Assert.Equal(2, usage.Count);
        Assert.Equal(usage[0], usage[1]);
    }

    [Fact(Timeout = 30_000)]
    public async Task Query_MoreThanTenWaiting_IsRefusedWithQueueFull()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.200" });
        await using var client = await ChatClient.ConnectAsync(server);
        var runtime = server.Services.GetRequiredService<AgentRuntime>();
        await client.SendAsync(new { type = "query", content = "q0", id = "q0" });
        Assert.Equal("Thinking...", Content(await client.ReceiveAsync()));
        await WaitUntilAsync(() => runtime.IsBusy(client.SessionId));

        for (var i = 1; i <= 11; i++)
        {
            await client.SendAsync(new { type = "query", content = $"q{i}", id = $"q{i}" });
        }
        var frames = new List<JsonElement>();
        for (var i = 1; i <= 11; i++)
        {
            frames.Add(await client.ReceiveAsync());
        }

        Assert.All(frames.Take(10), f => Assert.Equal(("status", "Thinking..."), (Type(f), Content(f))));
        Assert.Equal(("error", "queue_full", "q11"), (Type(frames[10]), Code(frames[10]), CorrelationId(frames[10])));
    }

    [Theory(Timeout = 30_000)]
    [InlineData("""{"type":"query","content":"   ","id":"e"}""", "invalid_payload")]
    [InlineData("""{"type":"query","id":"e"}""", "invalid_payload")]
    [InlineData("""{"type":"query","content":42,"id":"e"}""", "invalid_payload")]
    public async Task Query_WithoutText_IsInvalidPayload(string frame, string code)
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendTextAsync(frame);
        var error = await client.ReceiveAsync();

        Assert.Equal(("error", code, "e"), (Type(error), Code(error), CorrelationId(error)));
    }

    [Fact(Timeout = 30_000)]
    public async Task Query_LongerThan32000Characters_IsInputTooLong()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type = "query", content = new string('a', 32_001) });
        var error = await client.ReceiveAsync();

        Assert.Equal(("error", "input_too_long"), (Type(error), Code(error)));
        Assert.Contains("32001", Content(error), StringComparison.Ordinal);
    }

    [Theory(Timeout = 30_000)]
    [InlineData("response")]
    [InlineData("notification")]
    [InlineData("status")]
    [InlineData("error")]
    [InlineData("banana")]
    public async Task Frame_OfATypeClientsDoNotSend_IsUnknownTypeAndTheConnectionStillAnswers(string type)
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type, content = "hi" });
        var error = await client.ReceiveAsync();
        var answer = await client.AskAsync("still there?");

        Assert.Equal(("error", "unknown_type"), (Type(error), Code(error)));
        Assert.Contains($"'{type}'", Content(error), StringComparison.Ordinal);
        Assert.StartsWith(OfflineLabel, answer, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Frame_NotJson_IsInvalidJsonRecordedAsUnreadableAndTheConnectionStillAnswers()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendTextAsync("{not json");
        var error = await client.ReceiveAsync();
        var answer = await client.AskAsync("still there?");
        var events = await EventsAsync(server, client.SessionId);

        Assert.Equal(("error", "invalid_json"), (Type(error), Code(error)));
        Assert.StartsWith(OfflineLabel, answer, StringComparison.Ordinal);
        Assert.Contains(events, e => e is { Direction: EventDirections.In, Type: AgentEventTypes.UnreadableFrame } && e.Payload.Contains("{not json", StringComparison.Ordinal));
    }

    [Fact(Timeout = 30_000)]
    public async Task Command_Ping_IsAnsweredPong()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type = "command", content = "ping", id = "p" });
        var pong = await client.ReceiveAsync();

        Assert.Equal(("status", "pong", "p"), (Type(pong), Content(pong), CorrelationId(pong)));
    }

    [Fact(Timeout = 30_000)]
    public async Task Command_History_CountsTheTurnsSoFar()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);
        await client.AskAsync("one");
        await client.AskAsync("two");

        await client.SendAsync(new { type = "command", content = "history" });
        var history = await client.ReceiveAsync();

        Assert.Equal(("status", "2 turns so far", 2), (Type(history), Content(history), history.GetProperty("turns").GetInt32()));
    }

    [Fact(Timeout = 30_000)]
    public async Task Command_End_NotifiesAndClosesNormallyAndEndsTheSession()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type = "command", content = "end" });
        var (frames, status, reason) = await client.ReceiveUntilCloseAsync();
        var session = await server.Services.GetRequiredService<ISessionStore>().GetAsync(client.SessionId, Ct);

        Assert.Equal([("notification", "Session ended")], frames.Select(f => (Type(f), Content(f))));
        Assert.Equal((WebSocketCloseStatus.NormalClosure, "Session ended"), (status, reason));
        Assert.Equal(SessionStatuses.Ended, session!.Status);
    }

    [Fact(Timeout = 30_000)]
    public async Task Command_Unknown_IsUnknownCommand()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type = "command", content = "clear" });
        var error = await client.ReceiveAsync();

        Assert.Equal(("error", "unknown_command"), (Type(error), Code(error)));
        Assert.Contains("ping, history, end", Content(error), StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Feedback_IsRecordedAndAcknowledged()
    {
        await using var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type = "feedback", content = "Helpful answer", id = "f" });
        var ack = await client.ReceiveAsync();
        var events = await EventsAsync(server, client.SessionId);

        Assert.Equal(("status", "Feedback received", "f"), (Type(ack), Content(ack), CorrelationId(ack)));
        Assert.Contains(events, e => e is { Direction: EventDirections.In, Type: "feedback" } && e.Payload.Contains("Helpful answer", StringComparison.Ordinal));
    }

    [Fact(Timeout = 30_000)]
    public async Task Message_BiggerThanTheLimit_IsAnErrorThenClose1009()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Sockets:MaxMessageBytes"] = "1024" });
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type = "query", content = new string('a', 4_096) });
        var (frames, status, _) = await client.ReceiveUntilCloseAsync();

        Assert.Equal([("error", "message_too_big")], frames.Select(f => (Type(f), Code(f))));
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
    }

    [Fact(Timeout = 30_000)]
    public async Task Flood_IsRateLimitedThenClosed1008_AndTheServerStillAcceptsConnections()
    {
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Sockets:MessagesPerSecond"] = "1",
            ["Portal:Sockets:Burst"] = "5",
            ["Portal:Sockets:FloodCloseAfter"] = "50",
        });
        await using (var flooder = await ChatClient.ConnectAsync(server))
        {
            for (var i = 0; i < 300; i++)
            {
                await flooder.SendAsync(new { type = "command", content = "ping" });
            }
            var (frames, status, reason) = await flooder.ReceiveUntilCloseAsync();

            Assert.Equal((WebSocketCloseStatus.PolicyViolation, "Too many messages"), (status, reason));
            Assert.InRange(frames.Count(f => Content(f) == "pong"), 5, 8);
            Assert.Equal(("error", "rate_limited"), (Type(frames[^1]), Code(frames[^1])));
        }

        await using var next = await ChatClient.ConnectAsync(server);
        Assert.StartsWith(OfflineLabel, await next.AskAsync("are you still serving?"), StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Shutdown_ClosesTheConnectionWith1001()
    {
        var server = await PortalTestServer.StartAsync();
        await using var client = await ChatClient.ConnectAsync(server);

        var stopping = server.DisposeAsync().AsTask();
        var (_, status, reason) = await client.ReceiveUntilCloseAsync();
        await stopping;

        Assert.Equal((WebSocketCloseStatus.EndpointUnavailable, "Server stopping"), (status, reason));
    }

    [Fact(Timeout = 30_000)]
    public async Task Idle_PastTheSessionTimeout_NotifiesThenCloses1000SessionTimeout()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:ChatSocket:SessionTimeout"] = "00:00:01" });
        var clock = Stopwatch.StartNew();
        await using var client = await ChatClient.ConnectAsync(server);

        var (frames, status, reason) = await client.ReceiveUntilCloseAsync();

        Assert.Equal([("notification", "Session closed due to inactivity")], frames.Select(f => (Type(f), Content(f))));
        Assert.Equal((WebSocketCloseStatus.NormalClosure, "Session timeout"), (status, reason));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"closed after {clock.Elapsed}");
    }

    [Fact(Timeout = 30_000)]
    public async Task Idle_WhileATurnRuns_IsNotTimedOutUntilTheAnswerIsSent()
    {
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:ChatSocket:SessionTimeout"] = "00:00:01",
            ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.040", // the answer takes a few seconds
        });
        await using var client = await ChatClient.ConnectAsync(server);

        await client.SendAsync(new { type = "query", content = "take your time" });
        var (frames, status, reason) = await client.ReceiveUntilCloseAsync();

        Assert.Equal(["status", "response", "notification"], frames.Select(Type));
        Assert.StartsWith(OfflineLabel, Content(frames[1]), StringComparison.Ordinal);
        Assert.Equal((WebSocketCloseStatus.NormalClosure, "Session timeout"), (status, reason));
    }

    [Fact(Timeout = 30_000)]
    public async Task Disconnect_MidTurn_EndsTheSessionAndTheServerKeepsServing()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.050" });
        var store = server.Services.GetRequiredService<ISessionStore>();
        string sessionId;
        await using (var client = await ChatClient.ConnectAsync(server))
        {
            sessionId = client.SessionId;
            await client.SendAsync(new { type = "query", content = "a question left unanswered" });
            Assert.Equal("Thinking...", Content(await client.ReceiveAsync()));
            await WaitUntilAsync(() => server.Services.GetRequiredService<AgentRuntime>().IsBusy(sessionId));
            client.Socket.Abort();
        }

        await WaitUntilAsync(async () => (await store.GetAsync(sessionId, Ct))?.Status == SessionStatuses.Ended);
        var events = await EventsAsync(server, sessionId);
        await using var next = await ChatClient.ConnectAsync(server);

        var finished = Assert.Single(events, e => e.Type == AgentEventTypes.AgentFinished);
        Assert.Equal(TurnStatuses.Cancelled, AgentJson.Read<AgentFinishedPayload>(finished.Payload)!.Status);
        Assert.Equal((EventTypes.SessionEnded, EventDirections.Internal), (events[^1].Type, events[^1].Direction));
        Assert.Contains("Connection lost", events[^1].Payload, StringComparison.Ordinal);
        Assert.StartsWith(OfflineLabel, await next.AskAsync("and you, still there?"), StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Export_HasTheQueryIncomingAndTheResponseOutgoing()
    {
        await using var server = await PortalTestServer.StartAsync();
        var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);
        await using var client = await ChatClient.ConnectAsync(server, cookies);
        await client.AskAsync("export me");
        using var http = server.CreateClient(cookies);

        var lines = (await http.GetStringAsync($"/api/sessions/{client.SessionId}/export.jsonl", Ct))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .ToList();

        var query = Assert.Single(lines, l => l.GetProperty("message_data").TryGetProperty("type", out var t) && t.GetString() == "query");
        var response = Assert.Single(lines, l => l.GetProperty("message_data").TryGetProperty("type", out var t) && t.GetString() == "response");
        Assert.Equal(("websocket_message_received", "incoming"), (query.GetProperty("event_type").GetString(), query.GetProperty("direction").GetString()));
        Assert.Equal("export me", query.GetProperty("message_data").GetProperty("payload").GetProperty("content").GetString());
        Assert.Equal(("websocket_message_sent", "outgoing"), (response.GetProperty("event_type").GetString(), response.GetProperty("direction").GetString()));
        Assert.StartsWith(OfflineLabel, response.GetProperty("message_data").GetProperty("payload").GetProperty("content").GetString(), StringComparison.Ordinal);
        // The runtime's loop events of this protocol crossed no wire.
        Assert.DoesNotContain(lines, l => l.GetProperty("message_data").TryGetProperty("type", out var t)
            && t.GetString() is "response_delta" or "agent_finished" && l.GetProperty("direction").GetString() != "internal");
    }

    private static string? Type(JsonElement frame) => frame.GetProperty("type").GetString();

    private static string? Content(JsonElement frame) => frame.GetProperty("content").GetString();

    private static string? Code(JsonElement frame) => frame.TryGetProperty("code", out var code) ? code.GetString() : null;

    private static string? CorrelationId(JsonElement frame) => frame.TryGetProperty("correlationId", out var id) ? id.GetString() : null;

    private static async Task<IReadOnlyList<SessionEvent>> EventsAsync(PortalTestServer server, string sessionId) =>
        await server.Services.GetRequiredService<ISessionBus>().ReadAsync(sessionId, 0, 10_000, Ct);

    /// <summary>What the offline model reported it was sent, per turn.</summary>
    private static List<int> InputTokens(IEnumerable<SessionEvent> events) =>
        events.Where(e => e.Type == AgentEventTypes.AgentFinished)
            .Select(e => AgentJson.Read<AgentFinishedPayload>(e.Payload)!.Usage!.InputTokens)
            .ToList();

    private static Task WaitUntilAsync(Func<bool> condition) => WaitUntilAsync(() => Task.FromResult(condition()));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "The condition did not become true within 10 s.");
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>A program speaking seed 002 to <c>/ws/chat</c>; every read gives up after ten seconds.</summary>
    private sealed class ChatClient : IAsyncDisposable
    {
        private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
        private readonly byte[] _buffer = new byte[256 * 1024];

        private ChatClient(ClientWebSocket socket) => Socket = socket;

        public ClientWebSocket Socket { get; }
        public JsonElement Welcome { get; private set; }
        public string SessionId => Welcome.GetProperty("sessionId").GetString()!;

        public static Uri Uri(PortalTestServer server) => new($"ws://{server.BaseAddress.Authority}/ws/chat");

        /// <summary>Connects as the administrator (or with <paramref name="cookies"/>) and reads the welcome.</summary>
        public static async Task<ChatClient> ConnectAsync(PortalTestServer server, CookieContainer? cookies = null)
        {
            var socket = new ClientWebSocket();
            socket.Options.Cookies = cookies ?? await server.SignInCookiesAsync(PortalTestServer.AdminEmail);
            await socket.ConnectAsync(Uri(server), Ct);
            var client = new ChatClient(socket);
            client.Welcome = await client.ReceiveAsync();
            return client;
        }

        public Task SendAsync(object frame) => SendTextAsync(JsonSerializer.Serialize(frame));

        public async Task SendTextAsync(string text) =>
            await Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, Ct);

        /// <summary>Sends a query and returns the content of its response, checking the "Thinking..." status before it.</summary>
        public async Task<string> AskAsync(string question)
        {
            var id = Guid.NewGuid().ToString("N");
            await SendAsync(new { type = "query", content = question, id });
            var status = await ReceiveAsync();
            Assert.Equal(("status", "Thinking...", id), (Type(status), Content(status), CorrelationId(status)));
            var response = await ReceiveAsync();
            Assert.Equal(("response", id), (Type(response), CorrelationId(response)));
            return Content(response)!;
        }

        public async Task<JsonElement> ReceiveAsync()
        {
            var (frame, status, reason) = await ReceiveOrCloseAsync();
            Assert.True(frame.HasValue, $"The server closed the connection: {status} {reason}");
            return frame.Value;
        }

        /// <summary>The frames until the server's close, and the close; the close is answered.</summary>
        public async Task<(List<JsonElement> Frames, WebSocketCloseStatus? Status, string? Reason)> ReceiveUntilCloseAsync()
        {
            var frames = new List<JsonElement>();
            while (true)
            {
                var (frame, status, reason) = await ReceiveOrCloseAsync();
                if (frame is null)
                {
                    await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, Ct);
                    return (frames, status, reason);
                }
                frames.Add(frame.Value);
            }
        }

        private async Task<(JsonElement? Frame, WebSocketCloseStatus? Status, string? Reason)> ReceiveOrCloseAsync()
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(ReadTimeout);
            var count = 0;
            while (true)
            {
                var result = await Socket.ReceiveAsync(_buffer.AsMemory(count), timeout.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return (null, Socket.CloseStatus, Socket.CloseStatusDescription);
                }
                count += result.Count;
                if (result.EndOfMessage)
                {
                    using var document = JsonDocument.Parse(_buffer.AsMemory(0, count));
                    return (document.RootElement.Clone(), null, null);
                }
            }
        }

        public ValueTask DisposeAsync()
        {
            Socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
