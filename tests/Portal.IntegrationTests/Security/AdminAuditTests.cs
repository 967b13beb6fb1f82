using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Portal.Admin;
using Portal.Security;
using Portal.Security.Tokens;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

/// <summary>An administrator reading someone else's session leaves an <c>admin_viewed</c> event in it, once per 10 minutes.</summary>
public sealed class AdminAuditTests : IAsyncLifetime
{
    private const string Alice = "alice@portal.test";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private PortalTestServer _server = default!;
    private string _aliceId = "";
    private string _adminId = "";
    private SessionInfo _alices = default!;

    public async ValueTask InitializeAsync()
    {
        _server = await PortalTestServer.StartAsync();
        _aliceId = await _server.CreateUserAsync(Alice);
        _adminId = (await TestTokens.PrincipalAsync(_server, PortalTestServer.AdminEmail)).UserId()!;
        _alices = await NewSessionAsync(_aliceId, SessionKinds.Agent);
    }

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private ISessionBus Bus => _server.Services.GetRequiredService<ISessionBus>();

    private async Task<SessionInfo> NewSessionAsync(string? ownerId, string kind)
    {
        var session = await Bus.CreateSessionAsync(new NewSession(kind, ownerId, "Audited"), Ct);
        for (var i = 0; i < 3; i++)
        {
            await Bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.In, EventTypes.UserInput, EventActors.User, new { text = $"hello {i}" }), Ct);
        }
        return session;
    }

    private async Task<List<SessionEvent>> AuditEventsAsync(string sessionId) =>
        [.. (await Bus.ReadAsync(sessionId, 0, 1000, Ct)).Where(e => e.Type == EventTypes.AdminViewed)];

    [Theory]
    [InlineData("cookie")]
    [InlineData("token")]
    public async Task EventsAndExport_AnAdminReadingAnotherUsersSession_WritesOneAdminViewedEvent(string credential)
    {
        using var admin = credential == "cookie"
            ? await _server.SignInAsync(PortalTestServer.AdminEmail)
            : TestTokens.Client(_server, await TestTokens.CreateAsync(_server, PortalTestServer.AdminEmail, ApiScopes.Events));

        using var first = await admin.GetAsync($"/api/sessions/{_alices.Id}/events", Ct);
        using var second = await admin.GetAsync($"/api/sessions/{_alices.Id}/events?after=2", Ct);
        using var export = await admin.GetAsync($"/api/sessions/{_alices.Id}/export.jsonl", Ct);

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK), (first.StatusCode, second.StatusCode, export.StatusCode));
        var audit = Assert.Single(await AuditEventsAsync(_alices.Id));
        Assert.Equal((EventDirections.Internal, EventActors.Admin), (audit.Direction, audit.Actor));
        using var payload = JsonDocument.Parse(audit.Payload);
        Assert.Equal(_adminId, payload.RootElement.GetProperty("adminId").GetString());
        Assert.Equal(PortalTestServer.AdminEmail, payload.RootElement.GetProperty("admin").GetString());
        Assert.Equal(SessionReadAudit.Via.EventsApi, payload.RootElement.GetProperty("via").GetString());
        // The read that caused it shows it: the log tells its owner who looked.
        Assert.Contains("admin_viewed", await first.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_TheOwnerReading_AnAdminReadingTheirOwnOrAnOwnerlessSession_WriteNoAuditEvent()
    {
        var adminsOwn = await NewSessionAsync(_adminId, SessionKinds.Agent);
        var widget = await NewSessionAsync(null, SessionKinds.CesProxy);
        using var alice = await _server.SignInAsync(Alice);
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);

        using var byOwner = await alice.GetAsync($"/api/sessions/{_alices.Id}/events", Ct);
        using var ownByAdmin = await admin.GetAsync($"/api/sessions/{adminsOwn.Id}/events", Ct);
        using var widgetByAdmin = await admin.GetAsync($"/api/sessions/{widget.Id}/export.jsonl", Ct);
        using var metadataByAdmin = await admin.GetAsync($"/api/sessions/{_alices.Id}", Ct);

        Assert.All([byOwner, ownByAdmin, widgetByAdmin, metadataByAdmin], r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Empty(await AuditEventsAsync(_alices.Id));
        Assert.Empty(await AuditEventsAsync(adminsOwn.Id));
        Assert.Empty(await AuditEventsAsync(widget.Id));
    }

    [Fact]
    public async Task Events_TwoAdmins_EachLeaveTheirOwnAuditEvent()
    {
        await _server.CreateUserAsync("second-admin@portal.test", admin: true);
        using var first = await _server.SignInAsync(PortalTestServer.AdminEmail);
        using var second = await _server.SignInAsync("second-admin@portal.test");

        using var a = await first.GetAsync($"/api/sessions/{_alices.Id}/events", Ct);
        using var b = await second.GetAsync($"/api/sessions/{_alices.Id}/events", Ct);
        using var c = await second.GetAsync($"/api/sessions/{_alices.Id}/events", Ct);

        var admins = (await AuditEventsAsync(_alices.Id)).Select(e => JsonDocument.Parse(e.Payload).RootElement.GetProperty("admin").GetString());
        Assert.Equal([PortalTestServer.AdminEmail, "second-admin@portal.test"], admins);
    }

    [Fact]
    public async Task DetailPage_OpeningAnotherUsersSession_ShowsItsOwnAuditEventInTheSnapshot()
    {
        var review = _server.Services.GetRequiredService<SessionReview>();
        var admin = await TestTokens.PrincipalAsync(_server, PortalTestServer.AdminEmail);

        // What the admin detail page calls when it loads.
        var snapshot = await review.OpenAsync(_alices.Id, admin, Ct);
        var again = await review.OpenAsync(_alices.Id, admin, Ct);

        Assert.Equal(4, snapshot!.LastSeq);
        Assert.Equal(4, again!.LastSeq);
        var audit = Assert.Single(await AuditEventsAsync(_alices.Id));
        Assert.Equal(4, audit.Seq);
        Assert.Contains($"\"via\":\"{SessionReadAudit.Via.AdminPage}\"", audit.Payload, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatPage_AnAdminOpeningAnotherUsersConversation_IsAudited()
    {
        var conversation = await NewSessionAsync(_aliceId, SessionKinds.Chat);
        using var admin = await _server.SignInAsync(PortalTestServer.AdminEmail);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/c/{conversation.Id}");
        request.Headers.Accept.Add(new System.Net.Http.Headers.MediaTypeWithQualityHeaderValue("text/html"));

        using var response = await admin.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var audit = Assert.Single(await AuditEventsAsync(conversation.Id));
        Assert.Contains($"\"via\":\"{SessionReadAudit.Via.ChatPage}\"", audit.Payload, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task AgentSocket_AnAdminFollowingAnotherUsersSession_IsAudited_AndItsOwnerSeesNoNewFrame()
    {
        await using var alice = await AgentSocketClient.ConnectAsync(_server, await _server.SignInCookiesAsync(Alice), $"sessionId={_alices.Id}&afterSeq=3");
        await using var admin = await AgentSocketClient.ConnectAsync(_server, await _server.SignInCookiesAsync(PortalTestServer.AdminEmail), $"sessionId={_alices.Id}&afterSeq=0");

        var audit = Assert.Single(await AuditEventsAsync(_alices.Id));
        await alice.SendAsync("get_context_info");
        await alice.WaitForAsync("context_info");

        Assert.Contains($"\"via\":\"{SessionReadAudit.Via.AgentSocket}\"", audit.Payload, StringComparison.Ordinal);
        Assert.DoesNotContain(alice.Received, f => f.Type == EventTypes.AdminViewed);
    }
}
