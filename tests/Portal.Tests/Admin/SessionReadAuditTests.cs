using System.Security.Claims;
using Portal.Admin;
using Portal.Security;
using Portal.Sessions;
using Portal.Tests.Sessions;

namespace Portal.Tests.Admin;

public sealed class SessionReadAuditTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 10, 9, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static ClaimsPrincipal User(string id, bool admin) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.NameIdentifier, id), new Claim(ClaimTypes.Name, id + "@portal.test"), .. admin ? [new Claim(ClaimTypes.Role, PortalRoles.Admin)] : Array.Empty<Claim>()],
        "test"));

    [Fact]
    public async Task RecordAsync_SameAdminAndSession_OncePerTenMinutes()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var time = new ManualTime();
        var audit = new SessionReadAudit(harness.Bus, time);
        var session = await harness.Bus.CreateSessionAsync(new NewSession(SessionKinds.Chat, "alice"), Ct);
        var admin = User("root", admin: true);

        var first = await audit.RecordAsync(admin, session, SessionReadAudit.Via.AdminPage, Ct);
        time.Now += TimeSpan.FromMinutes(9);
        var withinTheWindow = await audit.RecordAsync(admin, session, SessionReadAudit.Via.EventsApi, Ct);
        time.Now += TimeSpan.FromMinutes(1);
        var afterIt = await audit.RecordAsync(admin, session, SessionReadAudit.Via.EventsApi, Ct);

        Assert.Equal((true, false, true), (first, withinTheWindow, afterIt));
        Assert.Equal(2, (await harness.Bus.ReadAsync(session.Id, 0, 100, Ct)).Count(e => e.Type == EventTypes.AdminViewed));
    }

    [Fact]
    public async Task RecordAsync_ANonAdminOrTheOwner_WritesNothing()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var audit = new SessionReadAudit(harness.Bus, new ManualTime());
        var session = await harness.Bus.CreateSessionAsync(new NewSession(SessionKinds.Chat, "alice"), Ct);

        var byUser = await audit.RecordAsync(User("bob", admin: false), session, SessionReadAudit.Via.EventsApi, Ct);
        var byOwningAdmin = await audit.RecordAsync(User("alice", admin: true), session, SessionReadAudit.Via.EventsApi, Ct);

        Assert.Equal((false, false), (byUser, byOwningAdmin));
        Assert.Empty(await harness.Bus.ReadAsync(session.Id, 0, 100, Ct));
    }
}
