using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Security.Tokens;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

/// <summary>A token is a password: no log line, at any level, of any category, may hold one.</summary>
public sealed class TokenLoggingTests
{
    private const string Alice = "alice@portal.test";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 60_000)]
    public async Task Tokens_InTheQueryOrTheHeader_AcceptedOrRefused_NeverReachTheLogs()
    {
        var logs = new LogCapture();
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Microsoft"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Trace",
        }, configure: builder => builder.Logging.AddProvider(logs));
        var aliceId = await server.CreateUserAsync(Alice);
        var token = await TestTokens.CreateAsync(server, Alice, ApiScopes.Agent, ApiScopes.Events);
        var revoked = await TestTokens.CreateNewAsync(server, Alice, [ApiScopes.Agent]);
        await server.Services.GetRequiredService<IApiTokenStore>().RevokeAsync(aliceId, revoked.Info.Id, Ct);
        using var anonymous = server.CreateClient();
        using var bearer = TestTokens.Client(server, token);

        // A browser's WebSocket: the token in the query, after another parameter.
        await using (var socket = await AgentSocketClient.ConnectWithTokenAsync(server, token, inQuery: true, query: "agent=offline"))
        {
            await socket.CloseAsync();
        }
        using var byHeader = await bearer.GetAsync("/api/sessions", Ct);
        using var inPlainQuery = await anonymous.GetAsync($"/api/sessions?x=1&access_token={token}", Ct);
        using var encodedName = await anonymous.GetAsync($"/api/sessions?Access%5Ftoken={token}", Ct);
        using var refusedUpgrade = await TestTokens.SendUpgradeAsync(anonymous, "/ws/agent?access_token=" + revoked.Token);
        using var refusedHeader = await TestTokens.Client(server, revoked.Token).GetAsync("/api/sessions", Ct);
        await WaitForAsync(() => logs.Entries.Any(e => e.Contains("Request finished", StringComparison.Ordinal) && e.Contains("/ws/agent?agent=offline", StringComparison.Ordinal)));

        var leaks = logs.Entries.Where(e => e.Contains(token[^43..], StringComparison.Ordinal) || e.Contains(revoked.Token[^43..], StringComparison.Ordinal)).ToList();
        Assert.Equal(
            (HttpStatusCode.OK, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized),
            (byHeader.StatusCode, inPlainQuery.StatusCode, encodedName.StatusCode, refusedUpgrade.StatusCode, refusedHeader.StatusCode));
        Assert.True(leaks.Count == 0, "The token was logged:\n" + string.Join("\n", leaks));
        // The request log was on, and kept the rest of the query.
        Assert.Contains(logs.Entries, e => e.Contains("Request starting", StringComparison.Ordinal) && e.Contains("/ws/agent?agent=offline", StringComparison.Ordinal));
        Assert.Contains(logs.Entries, e => e.Contains("Request starting", StringComparison.Ordinal) && e.Contains("/api/sessions?x=1 ", StringComparison.Ordinal));
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(50, Ct);
        }
    }
}
