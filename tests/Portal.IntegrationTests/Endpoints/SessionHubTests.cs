using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Endpoints.Hub;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.IntegrationTests.Endpoints;

/// <summary>
/// <c>/hubs/session</c> (seed 003) on real Kestrel with a real SQLite file, driven by a SignalR JSON-protocol client
/// over a raw <see cref="ClientWebSocket"/>.
/// </summary>
public sealed class SessionHubTests
{
    private const string Alice = "alice@portal.test";
    private const string Bob = "bob@portal.test";
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(400);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 30_000)]
    public async Task Negotiate_NotSignedIn_Is401()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var http = server.CreateClient();

        using var negotiate = await HubTestClient.NegotiateAsync(http);

        Assert.Equal(HttpStatusCode.Unauthorized, negotiate.StatusCode);
    }

    [Fact(Timeout = 30_000)]
    public async Task Negotiate_WithATokenOfTheHubScope_Is200_WithAnotherScope_Is403NamingHub()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var hub = Security.TestTokens.Client(server, await Security.TestTokens.CreateAsync(server, PortalTestServer.AdminEmail, Portal.Security.Tokens.ApiScopes.Hub));
        using var chat = Security.TestTokens.Client(server, await Security.TestTokens.CreateAsync(server, PortalTestServer.AdminEmail, Portal.Security.Tokens.ApiScopes.Chat));

        using var admitted = await HubTestClient.NegotiateAsync(hub);
        using var refused = await HubTestClient.NegotiateAsync(chat);

        Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("hub", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task ConnectWithoutNegotiate_NotSignedIn_Is401()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(HubTestClient.HubUri(server), Ct));

        Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);
    }

    [Fact(Timeout = 30_000)]
    public async Task Negotiate_FromAnotherSitesPage_Is403()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var http = server.CreateClient(await server.SignInCookiesAsync(PortalTestServer.AdminEmail));

        using var foreign = new HttpRequestMessage(HttpMethod.Post, "/hubs/session/negotiate?negotiateVersion=1") { Headers = { { "Origin", "http://evil.example" } } };
        using var refused = await http.SendAsync(foreign, Ct);
        using var own = new HttpRequestMessage(HttpMethod.Post, "/hubs/session/negotiate?negotiateVersion=1") { Headers = { { "Origin", server.BaseAddress.GetLeftPart(UriPartial.Authority) } } };
        using var accepted = await http.SendAsync(own, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    [Fact(Timeout = 30_000)]
    public async Task JoinSession_Null_CreatesAHubSessionOfTheCallerAndDeliversTheirJoin()
    {
        await using var server = await PortalTestServer.StartAsync();
        var aliceId = await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);

        var join = await JoinAsync(alice, new { title = "Field test" });
        var first = await alice.WaitForAsync("message");
        var session = await server.Services.GetRequiredService<ISessionStore>().GetAsync(SessionIdOf(join), Ct);

        Assert.True(join.GetProperty("created").GetBoolean());
        Assert.Equal(aliceId, join.GetProperty("participantId").GetString());
        Assert.NotNull(session);
        Assert.Equal((SessionKinds.Hub, aliceId, SessionStatuses.Active, "Field test"), (session.Kind, session.OwnerId, session.Status, session.Title));
        Assert.Equal(join.GetProperty("lastSeq").GetInt64(), first.GetProperty("seq").GetInt64());
        Assert.Equal(HubEventTypes.ParticipantJoined, first.GetProperty("event").GetProperty("type").GetString());
        Assert.Equal(aliceId, first.GetProperty("event").GetProperty("source").GetProperty("id").GetString());
    }

    [Fact(Timeout = 30_000)]
    public async Task JoinSession_NewHubSession_IsListedByTheSessionApiUnderKindHub()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));
        using var http = await server.SignInAsync(Alice);

        var list = await http.GetFromJsonAsync<JsonElement>("/api/sessions?kind=hub", Ct);

        var item = Assert.Single(list.GetProperty("items").EnumerateArray());
        Assert.Equal((sessionId, "hub"), (item.GetProperty("id").GetString(), item.GetProperty("kind").GetString()));
    }

    [Fact(Timeout = 30_000)]
    public async Task AdminReview_HubSession_OpensWithItsTimelineByTypeAndNoAgentFigures()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, new { title = "Warehouse scanners" }));
        await SendAsync(alice, "scan-1", "scan-2");
        await server.Services.GetRequiredService<ISessionBus>().WaitUntilDurableAsync(sessionId, Ct);
        await using var scope = server.Services.CreateAsyncScope();
        var review = scope.ServiceProvider.GetRequiredService<Portal.Admin.SessionReview>();

        var snapshot = await review.OpenAsync(sessionId, new System.Security.Claims.ClaimsPrincipal(), Ct);
        var digest = await review.SummarizeAsync(sessionId, snapshot!.LastSeq, Ct);
        var timeline = await review.ReadPageAsync(sessionId, long.MaxValue, null, Ct);
        var messages = await review.ReadPageAsync(sessionId, long.MaxValue, "chat.message", Ct);

        Assert.Equal((SessionKinds.Hub, "Warehouse scanners", 4L), (snapshot.Session.Kind, snapshot.Session.Title, snapshot.LastSeq));
        Assert.Equal(["chat.message", "chat.message", "participant_joined", "session_started"], timeline.Select(e => e.Type));
        Assert.Equal(2, messages.Count);
        Assert.Equal((0, 0, 0, false), (digest.Approvals.Count, digest.TurnCount, digest.ToolCalls.Count, digest.HasFrames));
    }

    [Fact(Timeout = 30_000)]
    public async Task Send_ValidEvent_IsAcknowledgedWithItsSeqAndDeliveredWithTheSignedInSource()
    {
        await using var server = await PortalTestServer.StartAsync();
        var aliceId = await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));

        var sent = await alice.InvokeAsync("Send", Json("""
            {"id":"evt_1","type":"user.action","source":{"id":"participant-123"},"timestamp":"2025-10-28T22:45:00.000Z","data":{"action":"button.clicked","buttonId":"submit"}}
            """));
        var seq = sent.Result.GetProperty("seq").GetInt64();
        var message = await alice.WaitForMessageAsync(seq);
        var e = message.GetProperty("event");

        Assert.Null(sent.Error);
        Assert.Equal((sessionId, "evt_1"), (sent.Result.GetProperty("sessionId").GetString(), sent.Result.GetProperty("id").GetString()));
        Assert.Equal(sessionId, message.GetProperty("sessionId").GetString());
        Assert.Equal(("evt_1", "user.action"), (e.GetProperty("id").GetString(), e.GetProperty("type").GetString()));
        Assert.Equal((aliceId, Alice), (e.GetProperty("source").GetProperty("id").GetString(), e.GetProperty("source").GetProperty("name").GetString()));
        Assert.Equal("""{"action":"button.clicked","buttonId":"submit"}""", e.GetProperty("data").GetRawText());
    }

    [Fact(Timeout = 30_000)]
    public async Task Send_AcceptedEvents_AreStoredInSqliteWithTheParticipantAsActor()
    {
        await using var server = await PortalTestServer.StartAsync();
        var aliceId = await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));

        for (var i = 1; i <= 3; i++)
        {
            Assert.Null((await alice.InvokeAsync("Send", new { type = "user.action", data = new { n = i } })).Error);
        }
        await server.Services.GetRequiredService<ISessionBus>().WaitUntilDurableAsync(sessionId, Ct);
        var rows = StoredEvents(server, sessionId);

        Assert.Equal(["session_started", "participant_joined", "user.action", "user.action", "user.action"], rows.Select(r => r.Type));
        Assert.Equal([1L, 2, 3, 4, 5], rows.Select(r => r.Seq));
        var actions = rows.Where(r => r.Type == "user.action").ToList();
        Assert.All(actions, r => Assert.Equal((EventDirections.In, EventActors.Participant), (r.Direction, r.Actor)));
        Assert.Equal([1, 2, 3], actions.Select(r => JsonDocument.Parse(r.Payload).RootElement.GetProperty("data").GetProperty("n").GetInt32()));
        Assert.All(actions, r => Assert.Equal(aliceId, JsonDocument.Parse(r.Payload).RootElement.GetProperty("source").GetProperty("id").GetString()));
    }

    [Fact(Timeout = 30_000)]
    public async Task Send_FromOneConnection_ReachesEveryConnectionOfTheParticipantAndNoOtherUser()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await server.CreateUserAsync(Bob);
        await using var laptop = await ConnectAsync(server, Alice);
        await using var phone = await ConnectAsync(server, Alice);
        await using var bob = await ConnectAsync(server, Bob);
        var sessionId = SessionIdOf(await JoinAsync(laptop, null));
        await JoinAsync(phone, sessionId);
        await JoinAsync(bob, null);

        var sent = await laptop.InvokeAsync("Send", new { type = "chat.message", data = new { text = "hello from the laptop" } });
        var seq = sent.Result.GetProperty("seq").GetInt64();
        var onLaptop = await laptop.WaitForMessageAsync(seq);
        var onPhone = await phone.WaitForMessageAsync(seq);
        await bob.DrainAsync(Quiet);

        Assert.Equal(onLaptop.GetRawText(), onPhone.GetRawText());
        Assert.DoesNotContain(bob.Messages, m => m.GetProperty("sessionId").GetString() == sessionId);
    }

    [Fact(Timeout = 30_000)]
    public async Task JoinSession_AnotherUsersSession_IsSessionNotFoundAndDeliversNothingOfIt()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await server.CreateUserAsync(Bob);
        await using var alice = await ConnectAsync(server, Alice);
        await using var bob = await ConnectAsync(server, Bob);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));

        var refused = await bob.InvokeAsync("JoinSession", sessionId);
        var error = await bob.WaitForAsync("error");
        await alice.InvokeAsync("Send", new { type = "chat.message", data = new { text = "private" } });
        await bob.DrainAsync(Quiet);

        Assert.Contains($"HubException: session_not_found: There is no hub session of yours with the id '{sessionId}'.", refused.Error, StringComparison.Ordinal);
        Assert.Equal(("session_not_found", "JoinSession"), (error.GetProperty("code").GetString(), error.GetProperty("method").GetString()));
        Assert.Empty(bob.Messages);
    }

    [Fact(Timeout = 30_000)]
    public async Task JoinSession_AnAgentSessionOfTheCaller_IsSessionNotFound()
    {
        await using var server = await PortalTestServer.StartAsync();
        var aliceId = await server.CreateUserAsync(Alice);
        var agent = await server.Services.GetRequiredService<ISessionBus>().CreateSessionAsync(new NewSession(SessionKinds.Agent, aliceId), Ct);
        await using var alice = await ConnectAsync(server, Alice);

        var refused = await alice.InvokeAsync("JoinSession", agent.Id);

        Assert.Contains("session_not_found", refused.Error, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task JoinSession_AsAdministrator_JoinsAUsersHubSession()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        await using var admin = await ConnectAsync(server, PortalTestServer.AdminEmail);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));

        var join = await JoinAsync(admin, sessionId);
        var sent = await alice.InvokeAsync("Send", new { type = "chat.message", data = new { text = "hi" } });

        Assert.False(join.GetProperty("created").GetBoolean());
        await admin.WaitForMessageAsync(sent.Result.GetProperty("seq").GetInt64());
    }

    [Fact(Timeout = 60_000)]
    public async Task JoinSession_WithAfterSeqAfterADrop_DeliversEveryMissedEventExactlyOnce()
    {
        await using var server = await PortalTestServer.StartAsync();
        var aliceId = await server.CreateUserAsync(Alice);
        var first = await ConnectAsync(server, Alice);
        await using var other = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(first, null));
        await JoinAsync(other, sessionId);
        var e2 = await SendAsync(first, "e1", "e2");
        await first.WaitForMessageAsync(e2);
        var lastSeen = first.Messages.Max(m => m.GetProperty("seq").GetInt64());

        await first.AbortAsync();
        await SendAsync(other, "e3", "e4", "e5");
        await using var resumed = await ConnectAsync(server, Alice);
        var join = await JoinAsync(resumed, new { sessionId, afterSeq = lastSeen });
        var e6 = await SendAsync(other, "e6");
        await resumed.WaitForMessageAsync(e6);
        var log = await server.Services.GetRequiredService<ISessionBus>().ReadAsync(sessionId, lastSeen, 1_000, Ct);
        var expected = log.Where(e => e.Seq <= e6 && HubParticipants.ToMessage(e, aliceId) is not null).Select(e => e.Seq);
        var got = resumed.Messages.Select(m => m.GetProperty("seq").GetInt64()).Where(s => s <= e6).ToList();

        Assert.Equal(lastSeen, join.GetProperty("afterSeq").GetInt64());
        Assert.Equal(expected, got);
        var ids = first.Messages.Concat(resumed.Messages).Select(m => m.GetProperty("event"))
            .Where(e => e.GetProperty("type").GetString() == "chat.message").Select(e => e.GetProperty("id").GetString());
        Assert.Equal(["e1", "e2", "e3", "e4", "e5", "e6"], ids);
        Assert.Contains(log, e => e.Type == HubEventTypes.ParticipantLeft && e.Payload.Contains(first.ConnectionId, StringComparison.Ordinal));
        await first.DisposeAsync();
    }

    [Fact(Timeout = 60_000)]
    public async Task Send_MalformedEvents_EachGetsItsOwnErrorAndTheConnectionKeepsWorking()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));
        (string Event, string Code, string Says)[] cases =
        [
            ("\"just text\"", "invalid_event", "An event is a JSON object"),
            ("[1,2]", "invalid_event", "this is an array"),
            ("{}", "invalid_event", "The event has no type"),
            ("""{"type":42}""", "invalid_event", "type must be a string; it is the number 42"),
            ("""{"type":"no spaces allowed"}""", "invalid_event", "is not valid"),
            ("""{"type":"user.action","data":[1,2]}""", "invalid_event", "data must be a JSON object; it is an array"),
            ("""{"type":"user.action","data":"text"}""", "invalid_event", "data must be a JSON object"),
            ("""{"type":"user.action","id":""}""", "invalid_event", "id must be a string of 1 to 128 characters"),
            ("""{"type":"user.action","to":"bob"}""", "invalid_event", "to must be a list of participant ids"),
            ("""{"type":"user.action","to":[7]}""", "invalid_event", "to[0] must be a participant id"),
            ("""{"type":"user.action","colour":"red"}""", "invalid_event", "Unknown field 'colour'"),
            ("""{"type":"user.action","type":"user.other"}""", "invalid_event", "appears twice"),
            ("""{"type":"approval_request"}""", "reserved_type", "one of Portal's own event types"),
            ($$$"""{"type":"user.action","data":{"blob":"{{{new string('x', 70_000)}}}"}}""", "event_too_large", "at most 65536 are accepted (Portal:Hub:MaxEventBytes)"),
        ];

        foreach (var (json, code, says) in cases)
        {
            var refused = await alice.InvokeAsync("Send", Json(json));
            var error = await alice.WaitForAsync("error");

            Assert.True(refused.Failed, json);
            Assert.Contains($"HubException: {code}: ", refused.Error, StringComparison.Ordinal);
            Assert.Contains(says, refused.Error, StringComparison.Ordinal);
            Assert.Equal((code, "Send", sessionId), (error.GetProperty("code").GetString(), error.GetProperty("method").GetString(), error.GetProperty("sessionId").GetString()));
        }
        var accepted = await alice.InvokeAsync("Send", new { type = "user.action", data = new { ok = true } });
        await alice.WaitForMessageAsync(accepted.Result.GetProperty("seq").GetInt64());
        var log = await server.Services.GetRequiredService<ISessionBus>().ReadAsync(sessionId, 0, 1_000, Ct);

        Assert.Null(accepted.Error);
        Assert.Equal(["participant_joined", "user.action"], alice.Messages.Select(m => m.GetProperty("event").GetProperty("type").GetString()));
        Assert.Equal(cases.Length, log.Count(e => e.Type == HubEventTypes.EventRejected));
        Assert.Equal(cases.Length, log.Count(e => e.Type == EventTypes.Error && e.Direction == EventDirections.Out));
    }

    [Fact(Timeout = 180_000)]
    public async Task Send_ThousandsOfRandomAndMutatedEvents_AreEachStoredOrRefusedWithAKnownCode()
    {
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Sockets:MessagesPerSecond"] = "1000000",
            ["Portal:Sockets:Burst"] = "1000000",
            ["Portal:Limits:MessagesPerSecondPerUser"] = "0",
            ["Portal:Limits:SessionsPerHourPerUser"] = "0",
        });
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));
        var random = new Random(6);
        var codes = new Dictionary<string, int>();
        var accepted = new Dictionary<string, int> { [sessionId] = 0 };

        for (var i = 0; i < 2_000; i++)
        {
            var sent = i % 10 == 9
                ? await alice.InvokeJsonAsync("JoinSession", Fuzz.JoinRequest(random, sessionId))
                : await alice.InvokeJsonAsync("Send", Fuzz.Event(random));
            if (sent.Error is not null)
            {
                var code = Fuzz.Code(sent.Error);
                codes[code] = codes.GetValueOrDefault(code) + 1;
                continue;
            }
            // A join may have created another session: events count towards the session they were stored in.
            var stored = sent.Result.GetProperty("sessionId").GetString()!;
            accepted[stored] = accepted.GetValueOrDefault(stored) + (sent.Result.TryGetProperty("participantId", out _) ? 0 : 1);
        }
        var bus = server.Services.GetRequiredService<ISessionBus>();
        using var http = server.CreateClient();
        using var health = await http.GetAsync("/health", Ct);

        Assert.False(alice.IsClosed);
        Assert.Subset(new HashSet<string> { "invalid_event", "reserved_type", "event_too_large", "invalid_request", "session_not_found" }, codes.Keys.ToHashSet());
        Assert.All(new[] { "invalid_event", "reserved_type", "event_too_large", "invalid_request" }, code => Assert.True(codes.GetValueOrDefault(code) > 0, $"no {code}: {string.Join(", ", codes)}"));
        Assert.True(accepted.Values.Sum() > 100, $"accepted {accepted.Values.Sum()}; refused {string.Join(", ", codes)}");
        foreach (var (id, count) in accepted)
        {
            var log = await bus.ReadAsync(id, 0, 100_000, Ct);
            Assert.Equal(count, log.Count(e => e.Direction == EventDirections.In && e.Actor == EventActors.Participant && e.Type != HubEventTypes.EventRejected));
        }
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact(Timeout = 120_000)]
    public async Task Connect_SendingRandomBytesInsteadOfHubMessages_IsClosedWithAnErrorAndOthersKeepWorking()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        var cookies = await server.SignInCookiesAsync(Alice);
        await using var steady = await HubTestClient.ConnectAsync(server, cookies);
        var sessionId = SessionIdOf(await JoinAsync(steady, null));
        var random = new Random(7);

        for (var i = 0; i < 40; i++)
        {
            await using var noisy = await HubTestClient.ConnectAsync(server, cookies);
            await noisy.SendTextAsync(Fuzz.Garbage(random) + HubTestClient.RecordSeparator);
            var closeError = await noisy.WaitForCloseAsync();

            Assert.True(closeError is null || closeError.StartsWith("Connection closed with an error.", StringComparison.Ordinal), closeError);
        }
        var after = await SendAsync(steady, "still here");

        await steady.WaitForMessageAsync(after);
        Assert.Equal(sessionId, steady.Messages[^1].GetProperty("sessionId").GetString());
    }

    [Fact(Timeout = 30_000)]
    public async Task JoinSession_MalformedRequests_AreInvalidRequest()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));
        (string Request, string Says)[] cases =
        [
            ("42", "JoinSession takes null (a new session), a session id, or {sessionId, afterSeq, title}; it got the number 42."),
            ("\"\"", "The session id is empty."),
            ("""{"afterSeq":3}""", "afterSeq needs a sessionId"),
            ($$"""{"sessionId":"{{sessionId}}","afterSeq":-1}""", "afterSeq must be a whole number, 0 or more; it is the number -1."),
            ($$"""{"sessionId":"{{sessionId}}","afterSeq":1.5}""", "afterSeq must be a whole number"),
            ($$"""{"sessionId":"{{sessionId}}","since":3}""", "Unknown field 'since'"),
            ($$"""{"sessionId":"{{sessionId}}","afterSeq":999}""", "afterSeq 999 is beyond the session's last seq"),
        ];

        foreach (var (request, says) in cases)
        {
            var refused = await alice.InvokeAsync("JoinSession", Json(request));

            Assert.Contains("HubException: invalid_request: " + says, refused.Error, StringComparison.Ordinal);
        }
        Assert.Equal(cases.Length, (await alice.DrainAsync(Quiet)).Count(c => c.Target == "error" && c.Argument.GetProperty("code").GetString() == "invalid_request"));
        var stillJoined = await alice.InvokeAsync("Send", new { type = "user.action" });
        Assert.Null(stillJoined.Error);
    }

    [Fact(Timeout = 30_000)]
    public async Task Send_BeforeJoining_IsNotJoined()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);

        var refused = await alice.InvokeAsync("Send", new { type = "user.action" });
        var error = await alice.WaitForAsync("error");

        Assert.Contains("HubException: not_joined: Join a session first", refused.Error, StringComparison.Ordinal);
        Assert.Equal("not_joined", error.GetProperty("code").GetString());
    }

    [Fact(Timeout = 30_000)]
    public async Task Invoke_UnknownMethodOrWrongArgumentCount_GetsAnErrorCompletionAndTheConnectionKeepsWorking()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);

        var unknown = await alice.InvokeAsync("Shout", "hello");
        var noArgument = await alice.InvokeAsync("JoinSession");
        var twoArguments = await alice.InvokeAsync("Send", new { type = "a.b" }, new { type = "c.d" });
        var join = await alice.InvokeAsync("joinSession", [null]);

        Assert.Equal("Failed to invoke 'Shout' due to an error on the server. HubException: Method does not exist.", unknown.Error);
        Assert.Contains("Invocation provides 0 argument(s) but target expects 1.", noArgument.Error, StringComparison.Ordinal);
        Assert.Contains("Invocation provides 2 argument(s) but target expects 1.", twoArguments.Error, StringComparison.Ordinal);
        Assert.Null(join.Error);
        Assert.False(alice.IsClosed);
    }

    [Fact(Timeout = 30_000)]
    public async Task Send_UnreadableHubMessage_ClosesOnlyThatConnectionAndLosesNothingAccepted()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var broken = await ConnectAsync(server, Alice);
        await using var other = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(broken, null));
        await JoinAsync(other, sessionId);
        var kept = await SendAsync(broken, "before");

        await broken.SendTextAsync("this is not JSON" + HubTestClient.RecordSeparator);
        var closeError = await broken.WaitForCloseAsync();
        var after = await SendAsync(other, "after");
        await other.WaitForMessageAsync(after);
        await using var replay = await ConnectAsync(server, Alice);
        await JoinAsync(replay, new { sessionId, afterSeq = 0 });
        await replay.WaitForMessageAsync(after);

        Assert.StartsWith("Connection closed with an error.", closeError, StringComparison.Ordinal);
        Assert.Contains(replay.Messages, m => m.GetProperty("seq").GetInt64() == kept);
    }

    [Fact(Timeout = 30_000)]
    public async Task Send_MessageOverMaxMessageBytes_ClosesThatConnectionNamingTheLimit()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Hub:MaxMessageBytes"] = "8192", ["Portal:Hub:MaxEventBytes"] = "4096" });
        await server.CreateUserAsync(Alice);
        await using var big = await ConnectAsync(server, Alice);
        await using var other = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(big, null));
        await JoinAsync(other, sessionId);

        var tooLarge = await big.InvokeAsync("Send", new { type = "user.action", data = new { blob = new string('x', 5_000) } });
        await big.SendAsync("Send", new { type = "user.action", data = new { blob = new string('x', 20_000) } });
        var closeError = await big.WaitForCloseAsync();
        var after = await SendAsync(other, "after");

        Assert.Contains("event_too_large", tooLarge.Error, StringComparison.Ordinal);
        Assert.Contains("The maximum message size of 8192B was exceeded", closeError, StringComparison.Ordinal);
        await other.WaitForMessageAsync(after);
    }

    [Fact(Timeout = 30_000)]
    public async Task Invoke_PastTheRate_IsRateLimitedThenTheConnectionIsClosed()
    {
        await using var server = await StartWithATightRateAsync();
        await using var alice = await ConnectAsync(server, Alice);
        await JoinAsync(alice, null);

        var completions = new List<HubCompletion>();
        for (var i = 0; i < 6; i++)
        {
            completions.Add(await alice.InvokeAsync("Send", new { type = "user.action", data = new { i } }));
        }
        await alice.SendAsync("Send", new { type = "user.action", data = new { i = 6 } });
        await alice.WaitForCloseAsync();
        var codes = alice.Errors.Select(e => e.GetProperty("code").GetString()).ToList();

        Assert.All(completions.Take(2), c => Assert.Null(c.Error));
        Assert.All(completions.Skip(2), c => Assert.Contains("rate_limited: Too many messages: at most 0 a second per connection (bursts of 3)", c.Error, StringComparison.Ordinal));
        Assert.Equal("rate_limited", codes[0]);
        Assert.Equal("too_many_messages", codes[^1]);
        Assert.All(codes[..^1], c => Assert.Equal("rate_limited", c));
    }

    [Fact(Timeout = 30_000)]
    public async Task Connect_MoreThanConnectionsPerUser_Is429BeforeTheUpgrade()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:ConnectionsPerUser"] = "2" });
        await server.CreateUserAsync(Alice);
        var cookies = await server.SignInCookiesAsync(Alice);
        await using var one = await HubTestClient.ConnectAsync(server, cookies);
        await using var two = await HubTestClient.ConnectAsync(server, cookies);
        using var http = server.CreateClient(cookies);
        using var negotiate = await HubTestClient.NegotiateAsync(http);
        var token = (await negotiate.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("connectionToken").GetString()!;
        using var third = new ClientWebSocket();
        third.Options.Cookies = cookies;
        third.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => third.ConnectAsync(HubTestClient.HubUri(server, query: "id=" + token), Ct));

        Assert.Equal(HttpStatusCode.OK, negotiate.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.HttpStatusCode);
        Assert.True(third.HttpResponseHeaders!.ContainsKey("Retry-After"));
        Assert.Null((await two.InvokeAsync("JoinSession", [null])).Error);
    }

    [Fact(Timeout = 30_000)]
    public async Task JoinSession_NewSessionPastSessionsPerHour_IsTooManySessionsButJoiningAnExistingOneWorks()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:SessionsPerHourPerUser"] = "1" });
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));

        var refused = await alice.InvokeAsync("JoinSession", [null]);
        var error = await alice.WaitForAsync("error");
        var rejoined = await alice.InvokeAsync("JoinSession", sessionId);

        Assert.Contains("HubException: too_many_sessions: You started 1 sessions in the last hour", refused.Error, StringComparison.Ordinal);
        Assert.Equal(("too_many_sessions", "JoinSession"), (error.GetProperty("code").GetString(), error.GetProperty("method").GetString()));
        Assert.Null(rejoined.Error);
    }

    [Fact(Timeout = 30_000)]
    public async Task Invoke_PastTheRateOfAllTheUsersConnectionsTogether_IsRateLimited()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:MessagesPerSecondPerUser"] = "0.01" });
        await server.CreateUserAsync(Alice);
        await using var laptop = await ConnectAsync(server, Alice);
        await using var phone = await ConnectAsync(server, Alice);

        var first = await laptop.InvokeAsync("JoinSession", [null]);
        var second = await phone.InvokeAsync("JoinSession", [null]);

        Assert.Null(first.Error);
        Assert.Contains("rate_limited: Too many messages: ", second.Error, StringComparison.Ordinal);
        Assert.Contains("a second over all your connections", second.Error, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Send_AddressedToAParticipant_ReachesThatParticipantAndTheSenderOnly()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        var carolId = await server.CreateUserAsync("carol@portal.test", admin: true);
        await server.CreateUserAsync("dave@portal.test", admin: true);
        await using var alice = await ConnectAsync(server, Alice);
        await using var carol = await ConnectAsync(server, "carol@portal.test");
        await using var dave = await ConnectAsync(server, "dave@portal.test");
        var sessionId = SessionIdOf(await JoinAsync(alice, null));
        await JoinAsync(carol, sessionId);
        await JoinAsync(dave, sessionId);

        var toCarol = await alice.InvokeAsync("Send", new { type = "chat.whisper", to = new[] { carolId }, data = new { text = "just you" } });
        var seq = toCarol.Result.GetProperty("seq").GetInt64();
        var atCarol = await carol.WaitForMessageAsync(seq);
        await alice.WaitForMessageAsync(seq);
        var everyone = await SendAsync(alice, "broadcast");
        await dave.WaitForMessageAsync(everyone);

        Assert.Equal($"[\"{carolId}\"]", atCarol.GetProperty("event").GetProperty("to").GetRawText());
        Assert.DoesNotContain(dave.Messages, m => m.GetProperty("seq").GetInt64() == seq);
    }

    [Fact(Timeout = 30_000)]
    public async Task Leave_StopsDeliveryAndIsSeenByTheOthersAsParticipantLeft()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var stays = await ConnectAsync(server, Alice);
        await using var leaves = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(stays, null));
        await JoinAsync(leaves, sessionId);

        var left = await leaves.InvokeAsync("Leave");
        var seen = await stays.WaitForMessageAsync(left.Result.GetProperty("seq").GetInt64());
        var after = await SendAsync(stays, "after");
        await stays.WaitForMessageAsync(after);
        await leaves.DrainAsync(Quiet);
        var again = await leaves.InvokeAsync("Leave");

        Assert.Equal(HubEventTypes.ParticipantLeft, seen.GetProperty("event").GetProperty("type").GetString());
        Assert.Equal("left", seen.GetProperty("event").GetProperty("data").GetProperty("reason").GetString());
        Assert.DoesNotContain(leaves.Messages, m => m.GetProperty("seq").GetInt64() >= after);
        Assert.Contains("not_joined", again.Error, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Disconnect_LastParticipant_RecordsTheLeaveAndMarksTheSessionIdle()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));

        await alice.DisposeAsync();
        var store = server.Services.GetRequiredService<ISessionStore>();
        var idle = await WaitUntilAsync(async () => (await store.GetAsync(sessionId, Ct))?.Status == SessionStatuses.Idle);
        var log = await server.Services.GetRequiredService<ISessionBus>().ReadAsync(sessionId, 0, 100, Ct);

        Assert.True(idle);
        var leave = Assert.Single(log, e => e.Type == HubEventTypes.ParticipantLeft);
        Assert.Contains("\"reason\":\"Connection closed\"", leave.Payload, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task DeleteSession_WhileJoined_SendsSessionDeletedAndSendIsSessionNotFound()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        var sessionId = SessionIdOf(await JoinAsync(alice, null));
        using var admin = await server.SignInAsync(PortalTestServer.AdminEmail);

        using var deleted = await admin.DeleteAsync($"/api/sessions/{sessionId}", Ct);
        var error = await alice.WaitForAsync("error");
        var send = await alice.InvokeAsync("Send", new { type = "user.action" });

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(("session_deleted", sessionId), (error.GetProperty("code").GetString(), error.GetProperty("sessionId").GetString()));
        Assert.Contains("session_not_found", send.Error, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Send_WithConfiguredEventTypes_RefusesAnyOtherTypeWithUnknownType()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Hub:EventTypes:0"] = "user.action", ["Portal:Hub:EventTypes:1"] = "user.typing" });
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        await JoinAsync(alice, null);

        var known = await alice.InvokeAsync("Send", new { type = "user.typing" });
        var unknown = await alice.InvokeAsync("Send", new { type = "user.dance" });

        Assert.Null(known.Error);
        Assert.Contains("unknown_type: Unknown event type 'user.dance'. This Portal accepts user.action, user.typing.", unknown.Error, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Connect_OpenConnection_IsCountedOnTheStatusApi()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var admin = await server.SignInAsync(PortalTestServer.AdminEmail);
        await using var hub = await ConnectAsync(server, PortalTestServer.AdminEmail);

        var status = await admin.GetFromJsonAsync<JsonElement>("/api/admin/status", Ct);

        var row = status.GetProperty("connections").EnumerateArray().Single(c => c.GetProperty("endpoint").GetString() == "/hubs/session");
        Assert.Equal(1, row.GetProperty("open").GetInt64());
    }

    [Theory(Timeout = 30_000)]
    [InlineData("Portal:Hub:ClientTimeout", "00:00:20", "Portal:Hub:ClientTimeout (00:00:20) must be at least twice Portal:Hub:KeepAliveInterval")]
    [InlineData("Portal:Hub:MaxEventBytes", "1048576", "Portal:Hub:MaxEventBytes (1048576) must not exceed Portal:Hub:MaxMessageBytes")]
    [InlineData("Portal:Hub:EventTypes:0", "approval_request", "'approval_request' is one of Portal's own event types")]
    [InlineData("Portal:Hub:MaxMessageBytes", "10", "MaxMessageBytes")]
    public async Task Start_WithABadHubSetting_FailsNamingIt(string key, string value, string says)
    {
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var server = await PortalTestServer.StartAsync(new() { [key] = value });
        });

        Assert.Contains(says, failure.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task RefusedCalls_AreLoggedAtInformationWithTheirCodeMethodAndConnection()
    {
        var logs = new Faults.LogCapture();
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Sockets:Burst"] = "3",
            ["Portal:Sockets:MessagesPerSecond"] = "0.01",
            ["Logging:LogLevel:Portal"] = "Information", // as in appsettings.json; the tests' default is Warning
        }, configure: b => b.Logging.AddProvider(logs));
        await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);

        var notJoined = await alice.InvokeAsync("Send", new { type = "chat.message", data = new { text = "secret-ish text" } });
        var badArgument = await alice.InvokeJsonAsync("JoinSession", "42");
        var allowed = await alice.InvokeAsync("Leave");
        var rateLimited = await alice.InvokeAsync("Leave");
        var refusals = logs.Entries.Where(e => e.Category == typeof(HubParticipants).FullName && e.Message.Contains(alice.ConnectionId, StringComparison.Ordinal)).ToList();

        Assert.All([notJoined, badArgument, allowed, rateLimited], c => Assert.True(c.Failed));
        Assert.Equal(
            ["Send not_joined", "JoinSession invalid_request", "Leave not_joined", "Leave rate_limited"],
            refusals.Select(e => $"{e.Message.Split(' ')[2]} {e.Message.Split("refused: ")[1].Split(':')[0]}"));
        Assert.All(refusals, e => Assert.Equal(LogLevel.Information, e.Level));
        Assert.DoesNotContain(refusals, e => e.Message.Contains("secret-ish", StringComparison.Ordinal)); // what was sent is not logged
    }

    [Fact(Timeout = 30_000)]
    public async Task UnboundCalls_TheFirstOnAConnectionIsOneWarningWithMethodConnectionAndUser_NoArguments_AndTheConnectionKeepsWorking()
    {
        var logs = new Faults.LogCapture();
        await using var server = await PortalTestServer.StartAsync(configure: b => b.Logging.AddProvider(logs));
        var aliceId = await server.CreateUserAsync(Alice);
        await using var alice = await ConnectAsync(server, Alice);
        await using var second = await ConnectAsync(server, Alice);

        var unknown = await alice.InvokeAsync("Shout", "secret-argument-1");
        var tooMany = await alice.InvokeAsync("Send", new { type = "a.b", data = "secret-argument-2" }, new { type = "c.d" });
        var leaveWithOne = await alice.InvokeAsync("Leave", "secret-argument-3");
        var join = await alice.InvokeAsync("JoinSession", [null]);
        var sent = await alice.InvokeAsync("Send", new { type = "chat.message", data = new { text = "still here" } });
        var secondUnknown = await second.InvokeJsonAsync("Whisper\n[Error] forged", "\"secret-argument-4\"");
        var warnings = logs.Entries.Where(e => e.Level >= LogLevel.Warning && e.Category == typeof(UnboundCallReporter).FullName).ToList();

        Assert.All([unknown, tooMany, leaveWithOne, secondUnknown], c => Assert.True(c.Failed));
        Assert.Null(join.Error);
        Assert.Null(sent.Error);
        Assert.False(alice.IsClosed);
        var first = Assert.Single(warnings, e => e.Message.Contains(alice.ConnectionId, StringComparison.Ordinal)); // once per connection
        Assert.Equal(LogLevel.Warning, first.Level);
        Assert.Contains("Hub call Shout ", first.Message, StringComparison.Ordinal);
        Assert.Contains($"(user {aliceId})", first.Message, StringComparison.Ordinal);
        Assert.Contains("Method does not exist.", first.Message, StringComparison.Ordinal);
        var other = Assert.Single(warnings, e => e.Message.Contains(second.ConnectionId, StringComparison.Ordinal)); // each connection its own
        Assert.Contains("Hub call Whisper?[Error] forged ", other.Message, StringComparison.Ordinal); // no line break to forge a log line with
        Assert.Equal(2, warnings.Count);
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains("secret-argument", StringComparison.Ordinal));
    }

    [Fact(Timeout = 30_000)]
    public async Task UnboundCalls_PastTheRate_CloseTheConnection_AsAFloodOfGoodCallsDoes()
    {
        await using var server = await StartWithATightRateAsync();
        await using var alice = await ConnectAsync(server, Alice);
        await using var second = await ConnectAsync(server, Alice);

        var answered = new List<HubCompletion>();
        for (var i = 0; i < 7; i++)
        {
            answered.Add(await alice.InvokeAsync("Shout", i));
        }
        await alice.SendAsync("Shout", 8);
        await alice.WaitForCloseAsync();
        var join = await second.InvokeAsync("JoinSession", [null]);

        // 3 in the burst, then 5 refused: the fifth refusal closes the connection.
        Assert.All(answered, c => Assert.True(c.Failed));
        Assert.True(alice.IsClosed);
        Assert.Null(join.Error); // the other connection of the same user is not touched
    }

    /// <summary>Portal with a rate of 3 calls a connection, then nearly none; the fifth refusal in ten seconds closes. Alice exists.</summary>
    private static async Task<PortalTestServer> StartWithATightRateAsync()
    {
        var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Sockets:MessagesPerSecond"] = "0.01",
            ["Portal:Sockets:Burst"] = "3",
            ["Portal:Sockets:FloodCloseAfter"] = "5",
        });
        await server.CreateUserAsync(Alice);
        return server;
    }

    private static async Task<HubTestClient> ConnectAsync(PortalTestServer server, string email) =>
        await HubTestClient.ConnectAsync(server, await server.SignInCookiesAsync(email));

    private static async Task<JsonElement> JoinAsync(HubTestClient client, object? request)
    {
        var join = await client.InvokeAsync("JoinSession", [request]);
        Assert.Null(join.Error);
        return join.Result;
    }

    /// <summary>Sends one <c>chat.message</c> per id; returns the seq of the last.</summary>
    private static async Task<long> SendAsync(HubTestClient client, params string[] ids)
    {
        long seq = 0;
        foreach (var id in ids)
        {
            var sent = await client.InvokeAsync("Send", new { id, type = "chat.message", data = new { text = id } });
            Assert.Null(sent.Error);
            seq = sent.Result.GetProperty("seq").GetInt64();
        }
        return seq;
    }

    private static string SessionIdOf(JsonElement join) => join.GetProperty("sessionId").GetString()!;

    private static JsonElement Json(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static async Task<bool> WaitUntilAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await condition())
            {
                return true;
            }
            await Task.Delay(50, Ct);
        }
        return false;
    }

    private sealed record StoredEvent(long Seq, string Type, string Direction, string Actor, string Payload);

    /// <summary>The session's events as the SQLite file holds them, read with a connection of the test's own.</summary>
    private static List<StoredEvent> StoredEvents(PortalTestServer server, string sessionId)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(server.Folder, "portal.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT e."Seq", e."Type", e."Direction", e."Actor", e."Payload"
            FROM "SessionEvents" e JOIN "Sessions" s ON s."Key" = e."SessionKey"
            WHERE s."Id" = $id ORDER BY e."Seq"
            """;
        command.Parameters.AddWithValue("$id", sessionId);
        using var reader = command.ExecuteReader();
        var rows = new List<StoredEvent>();
        while (reader.Read())
        {
            rows.Add(new StoredEvent(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)));
        }
        return rows;
    }
}
