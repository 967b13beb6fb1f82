using System.Net.Http.Headers;
using System.Security.Claims;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Security;
using Portal.Security.Tokens;
using Portal.Sessions.Storage;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

/// <summary>API tokens for tests, made through the same store the settings page uses.</summary>
internal static class TestTokens
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<string> CreateAsync(PortalTestServer server, string email, params string[] scopes) =>
        (await CreateNewAsync(server, email, scopes)).Token;

    public static async Task<NewApiToken> CreateNewAsync(PortalTestServer server, string email, string[] scopes, DateTimeOffset? expiresAt = null)
    {
        var result = await server.Services.GetRequiredService<IApiTokenStore>()
            .CreateAsync(await PrincipalAsync(server, email), "test " + string.Join("+", scopes), scopes, expiresAt, Ct);
        return result.Created ?? throw new InvalidOperationException(result.Error);
    }

    /// <summary>The principal the sign-in cookie of <paramref name="email"/> would carry.</summary>
    public static async Task<ClaimsPrincipal> PrincipalAsync(PortalTestServer server, string email)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await users.FindByEmailAsync(email) ?? throw new InvalidOperationException($"No user {email}.");
        return await scope.ServiceProvider.GetRequiredService<IUserClaimsPrincipalFactory<PortalUser>>().CreateAsync(user);
    }

    /// <summary>An HTTP client sending <c>Authorization: Bearer</c>, with no cookies.</summary>
    public static HttpClient Client(PortalTestServer server, string token)
    {
        var client = server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public static async Task ExpireAsync(PortalTestServer server, string tokenId)
    {
        await using var db = await server.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync(Ct);
        var past = DateTimeOffset.UtcNow.AddMinutes(-5);
        await db.ApiTokens.Where(t => t.Id == tokenId).ExecuteUpdateAsync(s => s.SetProperty(t => t.ExpiresAt, past), Ct);
    }

    public static Uri SocketUri(PortalTestServer server, string path, string query = "") =>
        new UriBuilder(server.BaseAddress) { Scheme = "ws", Path = path, Query = query }.Uri;

    /// <summary>
    /// A WebSocket handshake sent as a plain HTTP request, for the refusals before the upgrade (a ClientWebSocket gives the
    /// status, not the problem in the body). Callers assert on refusals only.
    /// </summary>
    public static async Task<HttpResponseMessage> SendUpgradeAsync(HttpClient client, string pathAndQuery)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery);
        request.Headers.Connection.Add("Upgrade");
        request.Headers.Upgrade.Add(new ProductHeaderValue("websocket"));
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(Guid.NewGuid().ToByteArray()));
        return await client.SendAsync(request, Ct);
    }
}
