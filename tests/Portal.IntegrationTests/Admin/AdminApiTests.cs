using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.IntegrationTests.Admin;

/// <summary><c>GET /api/admin/status</c> and <c>DELETE /api/sessions/{id}</c> on a real Portal.</summary>
public sealed class AdminApiTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private PortalTestServer _server = default!;
    private string _aliceId = "";

    public async ValueTask InitializeAsync()
    {
        _server = await PortalTestServer.StartAsync();
        _aliceId = await _server.CreateUserAsync("alice@portal.test");
    }

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private ISessionBus Bus => _server.Services.GetRequiredService<ISessionBus>();

    [Fact]
    public async Task Status_AsAdmin_CountsAnOpenChatSocketUntilItCloses()
    {
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);
        using var socket = new ClientWebSocket { Options = { Cookies = await _server.SignInCookiesAsync("alice@portal.test") } };
        await socket.ConnectAsync(new Uri($"ws://{_server.BaseAddress.Authority}/ws/chat"), Ct);

        var open = await ConnectionsAsync(admin, "/ws/chat");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", Ct);
        var closed = await WaitForAsync(async () => await ConnectionsAsync(admin, "/ws/chat") == 0);

        Assert.Equal(1, open);
        Assert.True(closed);
        Assert.Equal(0, await ConnectionsAsync(admin, "/ws/agent"));
    }

    [Fact]
    public async Task Status_WhileEventsAreAppended_ReportsARateAndTheDatabaseSize()
    {
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);
        var session = await Bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, _aliceId), Ct);
        await admin.GetFromJsonAsync<JsonElement>("/api/admin/status", Ct); // the rate's first sample

        for (var i = 0; i < 200; i++)
        {
            await Bus.AppendAsync(session.Id, new NewSessionEvent(EventDirections.Out, EventTypes.ResponseDelta, EventActors.Agent, """{"delta":"x"}"""), Ct);
        }
        await Task.Delay(1_100, Ct);
        var status = await admin.GetFromJsonAsync<JsonElement>("/api/admin/status", Ct);

        Assert.True(status.GetProperty("eventsPerSecond").GetDouble() > 0);
        Assert.True(status.GetProperty("eventsAppended").GetInt64() >= 200);
        Assert.True(status.GetProperty("databaseBytes").GetInt64() + status.GetProperty("walBytes").GetInt64() > 0);
        Assert.Equal(0, status.GetProperty("pendingApprovals").GetInt32());
        Assert.Equal(0, status.GetProperty("activeRuns").GetInt32());
    }

    [Fact]
    public async Task Status_AsAUser_IsForbidden_AndAnonymous_IsUnauthorized()
    {
        using var alice = await _server.SignInAsync("alice@portal.test");
        using var anonymous = _server.CreateClient();

        using var asUser = await alice.GetAsync("/api/admin/status", Ct);
        using var asNobody = await anonymous.GetAsync("/api/admin/status", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, asUser.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, asNobody.StatusCode);
    }

    [Fact]
    public async Task List_TextSearchAndSort_FindMessagesAndOrderThem()
    {
        var quiet = await Bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, _aliceId, "Quiet one"), Ct);
        var busy = await Bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, _aliceId, "Busy one"), Ct);
        await Bus.AppendAsync(quiet.Id, new NewSessionEvent(EventDirections.In, EventTypes.UserInput, EventActors.User, """{"text":"where is the walrus"}"""), Ct);
        for (var i = 0; i < 3; i++)
        {
            await Bus.AppendAsync(busy.Id, new NewSessionEvent(EventDirections.In, EventTypes.UserInput, EventActors.User, """{"text":"a walrus again"}"""), Ct);
        }
        await Bus.WaitUntilDurableAsync(quiet.Id, Ct);
        await Bus.WaitUntilDurableAsync(busy.Id, Ct);
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);

        await WaitForAsync(async () => (await admin.GetFromJsonAsync<JsonElement>($"/api/sessions/{busy.Id}", Ct)).GetProperty("eventCount").GetInt64() == 3);
        var fewestFirst = await admin.GetFromJsonAsync<JsonElement>("/api/sessions?text=walrus&sort=events&dir=asc", Ct);
        var none = await admin.GetFromJsonAsync<JsonElement>("/api/sessions?text=narwhal", Ct);
        using var badSort = await admin.GetAsync("/api/sessions?sort=Payload", Ct);

        Assert.Equal([quiet.Id, busy.Id], fewestFirst.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal(0, none.GetProperty("total").GetInt32());
        Assert.Equal(HttpStatusCode.BadRequest, badSort.StatusCode);
    }

    [Fact]
    public async Task Delete_AsAdmin_RemovesTheSessionItsEventsAndItsSearchText()
    {
        var session = await Bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, _aliceId, "Doomed flamingo"), Ct);
        await Bus.AppendAsync(session.Id, new NewSessionEvent(EventDirections.In, EventTypes.UserInput, EventActors.User, """{"text":"pink flamingo"}"""), Ct);
        await Bus.WaitUntilDurableAsync(session.Id, Ct);
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);

        using var response = await admin.DeleteAsync($"/api/sessions/{session.Id}", Ct);
        using var after = await admin.GetAsync($"/api/sessions/{session.Id}", Ct);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        Assert.Equal(0, Count("SELECT count(*) FROM SessionEvents"));
        Assert.Equal(0, Count("SELECT count(*) FROM SessionSearch WHERE SessionSearch MATCH 'flamingo'"));
    }

    [Fact]
    public async Task Delete_AsTheOwnerWhoIsNoAdmin_IsForbidden()
    {
        var session = await Bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, _aliceId, "Alice's"), Ct);
        using var alice = await _server.SignInAsync("alice@portal.test");

        using var response = await alice.DeleteAsync($"/api/sessions/{session.Id}", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.NotNull(await _server.Services.GetRequiredService<ISessionStore>().GetAsync(session.Id, Ct));
    }

    [Fact]
    public async Task Delete_UnknownSession_Is404()
    {
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);

        using var response = await admin.DeleteAsync("/api/sessions/0123456789abcdef0123456789abcdef", Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Delete_AChatWebSocketSession_EndsItsConnection()
    {
        using var socket = new ClientWebSocket { Options = { Cookies = await _server.SignInCookiesAsync("alice@portal.test") } };
        await socket.ConnectAsync(new Uri($"ws://{_server.BaseAddress.Authority}/ws/chat"), Ct);
        var store = _server.Services.GetRequiredService<ISessionStore>();
        var session = await WaitForSessionAsync(store);
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);

        using var response = await admin.DeleteAsync($"/api/sessions/{session.Id}", Ct);
        await socket.SendAsync("""{"type":"query","content":"still there?"}"""u8.ToArray(), WebSocketMessageType.Text, true, Ct);
        var buffer = new byte[64 * 1024];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, timeout.Token);
        }
        while (result.MessageType != WebSocketMessageType.Close);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("Session deleted", socket.CloseStatusDescription);
    }

    private async Task<SessionInfo> WaitForSessionAsync(ISessionStore store)
    {
        for (var i = 0; i < 100; i++)
        {
            if ((await store.ListAsync(new SessionQuery { Kind = SessionKinds.ChatWebSocket }, Ct)).Items is [var session, ..])
            {
                return session;
            }
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException("The chat-ws session did not appear.");
    }

    private static async Task<long> ConnectionsAsync(HttpClient admin, string endpoint)
    {
        var status = await admin.GetFromJsonAsync<JsonElement>("/api/admin/status", Ct);
        return status.GetProperty("connections").EnumerateArray().Single(c => c.GetProperty("endpoint").GetString() == endpoint).GetProperty("open").GetInt64();
    }

    private static async Task<bool> WaitForAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await condition())
            {
                return true;
            }
            await Task.Delay(50, Ct);
        }
        return false;
    }

    private long Count(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_server.Folder, "portal.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }
}
