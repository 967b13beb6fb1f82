using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Portal.Agents.Approvals;
using Portal.Agents.Chat;
using Portal.Agents.Runtime;
using Portal.Security.Tokens;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

/// <summary>
/// Two users, each with a cookie and a token: every endpoint that shows session data answers Bob about Alice's sessions
/// exactly as about missing ones (404), or refuses (403), and nothing of hers reaches him.
/// </summary>
public sealed class SessionIsolationTests : IAsyncLifetime
{
    private const string Alice = "alice@portal.test";
    private const string Bob = "bob@portal.test";
    /// <summary>A word only Alice's sessions hold; no answer to Bob may contain it.</summary>
    private const string Secret = "walrus-7f3a";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private PortalTestServer _server = default!;
    private string _aliceId = "";
    private string _bobId = "";
    private SessionInfo _aliceAgent = default!;
    private SessionInfo _aliceChat = default!;
    private SessionInfo _aliceChatSocket = default!;

    public async ValueTask InitializeAsync()
    {
        _server = await PortalTestServer.StartAsync();
        _aliceId = await _server.CreateUserAsync(Alice);
        _bobId = await _server.CreateUserAsync(Bob);
        var bus = _server.Services.GetRequiredService<ISessionBus>();
        _aliceAgent = await bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, _aliceId, $"Alice {Secret} agent"), Ct);
        _aliceChat = await bus.CreateSessionAsync(new NewSession(SessionKinds.Chat, _aliceId, $"Alice {Secret} chat", Status: SessionStatuses.Idle), Ct);
        _aliceChatSocket = await bus.CreateSessionAsync(new NewSession(SessionKinds.ChatWebSocket, _aliceId, $"Alice {Secret} query"), Ct);
        foreach (var session in new[] { _aliceAgent, _aliceChat, _aliceChatSocket })
        {
            await bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.In, EventTypes.UserInput, EventActors.User, new { text = $"my {Secret} notes" }), Ct);
            await bus.WaitUntilDurableAsync(session.Id, Ct);
        }
    }

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    /// <summary>Bob, signed in with the cookie or holding a token with every scope a user can have.</summary>
    private async Task<HttpClient> BobAsync(string credential) => credential == "cookie"
        ? await _server.SignInAsync(Bob)
        : TestTokens.Client(_server, await TestTokens.CreateAsync(_server, Bob, ApiScopes.Agent, ApiScopes.Chat, ApiScopes.Hub, ApiScopes.Events));

    [Theory]
    [InlineData("cookie", "/api/sessions")]
    [InlineData("cookie", "/api/sessions?owner={alice}")]
    [InlineData("cookie", "/api/sessions?text=walrus")]
    [InlineData("cookie", "/sessions")]
    [InlineData("token", "/api/sessions")]
    [InlineData("token", "/api/sessions?owner={alice}")]
    [InlineData("token", "/api/sessions?text=walrus")]
    [InlineData("token", "/sessions")]
    public async Task List_AsAnotherUser_ShowsNoneOfHerSessions(string credential, string path)
    {
        using var bob = await BobAsync(credential);

        using var response = await bob.GetAsync(path.Replace("{alice}", _aliceId, StringComparison.Ordinal), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(Secret, body, StringComparison.Ordinal);
        Assert.DoesNotContain(_aliceAgent.Id, body, StringComparison.Ordinal);
        Assert.DoesNotContain(_aliceChat.Id, body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cookie", "")]
    [InlineData("cookie", "/events")]
    [InlineData("cookie", "/export.jsonl")]
    [InlineData("token", "")]
    [InlineData("token", "/events")]
    [InlineData("token", "/export.jsonl")]
    public async Task Read_AnotherUsersSession_Is404LikeAMissingOne(string credential, string suffix)
    {
        using var bob = await BobAsync(credential);

        foreach (var session in new[] { _aliceAgent, _aliceChat, _aliceChatSocket })
        {
            using var response = await bob.GetAsync($"/api/sessions/{session.Id}{suffix}", Ct);
            var body = await response.Content.ReadAsStringAsync(Ct);

            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.DoesNotContain(Secret, body, StringComparison.Ordinal);
        }
        // Her own token reads it: the 404s above are about ownership, not about the path.
        using var alice = TestTokens.Client(_server, await TestTokens.CreateAsync(_server, Alice, ApiScopes.Events));
        using var own = await alice.GetAsync($"/api/sessions/{_aliceAgent.Id}{suffix}", Ct);
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
    }

    [Theory]
    [InlineData("cookie")]
    [InlineData("token")]
    public async Task Delete_AnotherUsersSession_AsAUser_Is403AndItStays(string credential)
    {
        using var bob = await BobAsync(credential);

        using var response = await bob.DeleteAsync($"/api/sessions/{_aliceAgent.Id}", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.NotNull(await _server.Services.GetRequiredService<ISessionStore>().GetAsync(_aliceAgent.Id, Ct));
    }

    [Theory(Timeout = 30_000)]
    [InlineData("cookie")]
    [InlineData("token")]
    public async Task AgentSocket_FollowingAnotherUsersSession_Is404BeforeTheUpgrade(string credential)
    {
        using var bob = await BobAsync(credential);

        foreach (var session in new[] { _aliceAgent, _aliceChat })
        {
            using var response = await TestTokens.SendUpgradeAsync(bob, $"/ws/agent?sessionId={session.Id}&afterSeq=0");
            var body = await response.Content.ReadAsStringAsync(Ct);

            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("No such session", body, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, body, StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task AgentSocket_ResumeFrameForAnotherUsersSession_IsRefusedAndSendsNothingOfIt()
    {
        var token = await TestTokens.CreateAsync(_server, Bob, ApiScopes.Agent);
        await using var bob = await AgentSocketClient.ConnectWithTokenAsync(_server, token);

        await bob.SendAsync("resume", new { sessionId = _aliceAgent.Id, afterSeq = 0 });
        var error = await bob.WaitForAsync("error");
        await bob.SendAsync("get_context_info");
        await bob.WaitForAsync("context_info");

        Assert.Equal("session_not_found", error.Text("code"));
        Assert.DoesNotContain(bob.Received, f => f.Payload.GetRawText().Contains(Secret, StringComparison.Ordinal) || f.Id.StartsWith(_aliceAgent.Id, StringComparison.Ordinal));
    }

    [Fact(Timeout = 60_000)]
    public async Task AgentSocket_AnsweringAnotherUsersPendingApproval_IsRefusedAndItStaysPending()
    {
        await using var alice = await AgentSocketClient.ConnectAsync(_server, await _server.SignInCookiesAsync(Alice));
        await alice.SendInputAsync("run touch notes.txt");
        var request = await alice.WaitForAsync("approval_request");
        var callId = request.Text("callId");
        await using var bob = await AgentSocketClient.ConnectWithTokenAsync(_server, await TestTokens.CreateAsync(_server, Bob, ApiScopes.Agent));

        await bob.SendAsync("approval_response", new { review = "yes", callId });
        var error = await bob.WaitForAsync("error");
        var runtime = _server.Services.GetRequiredService<AgentRuntime>();
        var events = await _server.Services.GetRequiredService<ISessionBus>().ReadAsync(alice.SessionId!, 0, 1000, Ct);

        Assert.Equal("no_pending_approval", error.Text("code"));
        Assert.Equal([callId], runtime.WaitingApprovals(_aliceId).Select(w => w.CallId));
        Assert.Empty(runtime.WaitingApprovals(_bobId));
        Assert.DoesNotContain(events, e => e.Type == EventTypes.ApprovalDecision);
        Assert.DoesNotContain(bob.Received, f => f.Type == "approval_request");
    }

    [Fact(Timeout = 60_000)]
    public async Task ChatUi_DecidingAnotherUsersApproval_IsNotFoundAndItStaysPending()
    {
        var chat = _server.Services.GetRequiredService<ChatService>();
        var runtime = _server.Services.GetRequiredService<AgentRuntime>();
        var alice = await TestTokens.PrincipalAsync(_server, Alice);
        var conversation = await chat.StartConversationAsync(alice, agent: null, Ct);
        await chat.SendAsync(conversation.Id, alice, "run touch notes.txt", Ct);
        var waiting = await WaitForAsync(() => runtime.WaitingApprovals(_aliceId) is [var first, ..] ? first : null);

        var status = await chat.DecideAsync(conversation.Id, await TestTokens.PrincipalAsync(_server, Bob), waiting.CallId, ReviewDecision.Yes, null, Ct);

        Assert.Equal(DecisionStatus.NotFound, status);
        Assert.Single(runtime.WaitingApprovals(_aliceId));
        Assert.Empty(runtime.WaitingApprovals(_bobId));
    }

    [Fact]
    public async Task ChatPage_AnotherUsersConversation_ShowsNothingOfIt()
    {
        using var bob = await _server.SignInAsync(Bob);
        using var alice = await _server.SignInAsync(Alice);

        var bobsView = await PageAsync(bob, $"/c/{_aliceChat.Id}");
        var alicesView = await PageAsync(alice, $"/c/{_aliceChat.Id}");

        Assert.DoesNotContain(Secret, bobsView, StringComparison.Ordinal);
        Assert.Contains(Secret, alicesView, StringComparison.Ordinal); // the page does show a conversation to its owner
    }

    [Fact(Timeout = 30_000)]
    public async Task ChatSocket_AnotherUsersSessionIdInTheQuery_IsIgnored_BobGetsANewSessionOfHisOwn()
    {
        var token = await TestTokens.CreateAsync(_server, Bob, ApiScopes.Chat);
        using var socket = new ClientWebSocket();

        await socket.ConnectAsync(TestTokens.SocketUri(_server, "/ws/chat", $"sessionId={_aliceChatSocket.Id}&access_token={token}"), Ct);
        var welcome = await ReceiveAsync(socket);
        await socket.SendAsync(Encoding.UTF8.GetBytes("""{"type":"command","content":"history"}"""), WebSocketMessageType.Text, true, Ct);
        var history = await ReceiveAsync(socket);
        var session = await _server.Services.GetRequiredService<ISessionStore>().GetAsync(welcome.GetProperty("sessionId").GetString()!, Ct);

        Assert.NotEqual(_aliceChatSocket.Id, session!.Id);
        Assert.Equal(_bobId, session.OwnerId);
        Assert.Equal("0 turns so far", history.GetProperty("content").GetString());
    }

    private async Task<string> PageAsync(HttpClient client, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
        using var response = await client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    private static async Task<JsonElement> ReceiveAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var received = await socket.ReceiveAsync(buffer, timeout.Token);
        using var document = JsonDocument.Parse(buffer.AsMemory(0, received.Count));
        return document.RootElement.Clone();
    }

    private static async Task<T> WaitForAsync<T>(Func<T?> probe) where T : class
    {
        for (var i = 0; i < 200; i++)
        {
            if (probe() is { } value)
            {
                return value;
            }
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException("The condition was not met in 10 s.");
    }
}
