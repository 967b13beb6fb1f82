using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.IntegrationTests.Endpoints;

public sealed class SessionApiTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private PortalTestServer _server = default!;
    private string _aliceId = "";
    private string _bobId = "";
    private SessionInfo _alices = default!;
    private SessionInfo _bobs = default!;

    public async ValueTask InitializeAsync()
    {
        _server = await PortalTestServer.StartAsync();
        _aliceId = await _server.CreateUserAsync("alice@portal.test");
        _bobId = await _server.CreateUserAsync("bob@portal.test");
        var bus = _server.Services.GetRequiredService<ISessionBus>();
        _alices = await bus.CreateSessionAsync(new NewSession(SessionKinds.Chat, _aliceId, "Alice's chat"), Ct);
        _bobs = await bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, _bobId, "Bob's agent"), Ct);
        for (var i = 1; i <= 25; i++)
        {
            await bus.AppendAsync(_alices.Id, NewSessionEvent.FromObject(EventDirections.In, "user_input", EventActors.User, new { text = $"message {i}" }), Ct);
        }
        await bus.AppendAsync(_bobs.Id, new NewSessionEvent(EventDirections.In, "user_input", EventActors.User, """{"text":"bob"}"""), Ct);
        await bus.WaitUntilDurableAsync(_alices.Id, Ct);
        await bus.WaitUntilDurableAsync(_bobs.Id, Ct);
    }

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task List_AsAUser_ShowsOnlyTheirOwnSessions()
    {
        using var alice = await _server.SignInAsync("alice@portal.test");

        var list = await alice.GetFromJsonAsync<JsonElement>("/api/sessions", Ct);

        var ids = list.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("id").GetString()).ToList();
        Assert.Equal([_alices.Id], ids);
        Assert.Equal(1, list.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task List_AsAUserAskingForSomeoneElsesSessions_IsEmpty()
    {
        using var alice = await _server.SignInAsync("alice@portal.test");

        var list = await alice.GetFromJsonAsync<JsonElement>($"/api/sessions?owner={_bobId}", Ct);

        Assert.Empty(list.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task List_AsAdmin_ShowsEveryoneNewestFirstAndFilters()
    {
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);

        var all = await admin.GetFromJsonAsync<JsonElement>("/api/sessions", Ct);
        var agents = await admin.GetFromJsonAsync<JsonElement>("/api/sessions?kind=agent", Ct);
        var bobs = await admin.GetFromJsonAsync<JsonElement>($"/api/sessions?owner={_bobId}", Ct);
        var future = await admin.GetFromJsonAsync<JsonElement>("/api/sessions?from=2999-01-01", Ct);

        var ids = all.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("id").GetString()).ToList();
        Assert.Equal([_bobs.Id, _alices.Id], ids);
        Assert.Equal([_bobs.Id], agents.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal("bob@portal.test", bobs.GetProperty("items")[0].GetProperty("ownerName").GetString());
        Assert.Empty(future.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task List_Paged_ReturnsTheRequestedPage()
    {
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);

        var second = await admin.GetFromJsonAsync<JsonElement>("/api/sessions?page=2&pageSize=1", Ct);

        Assert.Equal(_alices.Id, second.GetProperty("items")[0].GetProperty("id").GetString());
        Assert.Equal(2, second.GetProperty("total").GetInt32());
    }

    [Theory]
    [InlineData("/api/sessions?page=0", "page")]
    [InlineData("/api/sessions?pageSize=100000", "pageSize")]
    [InlineData("/api/sessions?kind=bogus", "kind")]
    [InlineData("/api/sessions?status=sleeping", "status")]
    [InlineData("/api/sessions?from=yesterday", "from")]
    [InlineData("/api/sessions?page=abc", "page")]
    public async Task List_MalformedQuery_Is400WithAProblemNamingTheParameter(string url, string parameter)
    {
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);

        using var response = await admin.GetAsync(url, Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _));
    }

    [Fact]
    public async Task Get_OwnSession_ReturnsIt()
    {
        using var alice = await _server.SignInAsync("alice@portal.test");

        var session = await alice.GetFromJsonAsync<JsonElement>($"/api/sessions/{_alices.Id}", Ct);

        Assert.Equal("Alice's chat", session.GetProperty("title").GetString());
        Assert.Equal(25, session.GetProperty("eventCount").GetInt64());
    }

    [Theory]
    [InlineData("")]
    [InlineData("/events")]
    [InlineData("/export.jsonl")]
    public async Task SomeoneElsesSession_AnswersLikeAMissingOne_404(string suffix)
    {
        using var alice = await _server.SignInAsync("alice@portal.test");

        using var others = await alice.GetAsync($"/api/sessions/{_bobs.Id}{suffix}", Ct);
        using var missing = await alice.GetAsync($"/api/sessions/0123456789abcdef0123456789abcdef{suffix}", Ct);

        Assert.Equal(HttpStatusCode.NotFound, others.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", others.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task Events_AfterAndLimit_ReturnThatWindowAndSayWhetherMoreFollow()
    {
        using var alice = await _server.SignInAsync("alice@portal.test");

        var page = await alice.GetFromJsonAsync<JsonElement>($"/api/sessions/{_alices.Id}/events?after=10&limit=5", Ct);
        var last = await alice.GetFromJsonAsync<JsonElement>($"/api/sessions/{_alices.Id}/events?after=20&limit=100", Ct);

        Assert.Equal([11L, 12, 13, 14, 15], page.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()));
        Assert.Equal("message 11", page.GetProperty("events")[0].GetProperty("payload").GetProperty("text").GetString());
        Assert.True(page.GetProperty("more").GetBoolean());
        Assert.Equal(5, last.GetProperty("events").GetArrayLength());
        Assert.False(last.GetProperty("more").GetBoolean());
        Assert.Equal(25, last.GetProperty("lastSeq").GetInt64());
    }

    [Theory]
    [InlineData("after=-1", "after")]
    [InlineData("after=x", "after")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=5000", "limit")]
    public async Task Events_MalformedQuery_Is400(string query, string parameter)
    {
        using var alice = await _server.SignInAsync("alice@portal.test");

        using var response = await alice.GetAsync($"/api/sessions/{_alices.Id}/events?{query}", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(parameter, await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_WritesOneSeedFormatLinePerEvent()
    {
        using var alice = await _server.SignInAsync("alice@portal.test");

        using var response = await alice.GetAsync($"/api/sessions/{_alices.Id}/export.jsonl", Ct);
        var lines = (await response.Content.ReadAsStringAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(25, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.Equal(["timestamp", "event_type", "direction", "message_data"], first.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("websocket_message_received", first.RootElement.GetProperty("event_type").GetString());
        Assert.Equal("message 1", first.RootElement.GetProperty("message_data").GetProperty("payload").GetProperty("text").GetString());
        Assert.Contains($"{_alices.Id}.jsonl", response.Content.Headers.ContentDisposition!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SeedSessions_HasTheSeedsShape()
    {
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);

        var body = await admin.GetFromJsonAsync<JsonElement>("/sessions", Ct);

        var first = body.GetProperty("sessions")[0];
        Assert.Equal(["session_id", "start_time", "last_activity", "event_count"], first.EnumerateObject().Select(p => p.Name));
        Assert.Equal(_bobs.Id, first.GetProperty("session_id").GetString());
        Assert.Equal(2, body.GetProperty("sessions").GetArrayLength());
    }
}
