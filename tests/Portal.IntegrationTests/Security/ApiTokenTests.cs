using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Portal.Security;
using Portal.Security.Tokens;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

/// <summary>API tokens on a real Portal: Bearer and access_token, scopes, refusals, and what is stored.</summary>
public sealed class ApiTokenTests : IAsyncLifetime
{
    private const string Alice = "alice@portal.test";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private PortalTestServer _server = default!;
    private string _aliceId = "";
    private SessionInfo _alices = default!;

    public async ValueTask InitializeAsync()
    {
        // Stands in for the session hub (built elsewhere): an HTTP and a WebSocket endpoint under /hubs that need scope hub.
        _server = await PortalTestServer.StartAsync(map: app =>
        {
            app.MapGet("/hubs/probe", (ClaimsPrincipal user) => new Probe(user.UserId(), user.Identity?.Name, user.IsAdmin(), user.IsApiToken(),
                [.. user.FindAll(ApiScopes.ClaimType).Select(c => c.Value)])).RequireScope(ApiScopes.Hub);
            app.Map("/hubs/probe/ws", async (HttpContext context) =>
            {
                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                await socket.SendAsync(Encoding.UTF8.GetBytes(context.User.Identity?.Name ?? ""), WebSocketMessageType.Text, true, context.RequestAborted);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", context.RequestAborted);
            }).RequireScope(ApiScopes.Hub);
        });
        _aliceId = await _server.CreateUserAsync(Alice);
        _alices = await _server.Services.GetRequiredService<ISessionBus>().CreateSessionAsync(new NewSession(SessionKinds.Agent, _aliceId, "Alice's agent"), Ct);
    }

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private sealed record Probe(string? Id, string? Name, bool Admin, bool Token, string[] Scopes);

    [Fact]
    public async Task Bearer_WithTheEventsScope_ReadsTheOwnersSessions()
    {
        using var client = TestTokens.Client(_server, await TestTokens.CreateAsync(_server, Alice, ApiScopes.Events));

        var list = await client.GetFromJsonAsync<JsonElement>("/api/sessions", Ct);
        using var events = await client.GetAsync($"/api/sessions/{_alices.Id}/events", Ct);

        Assert.Equal([_alices.Id], list.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal(HttpStatusCode.OK, events.StatusCode);
    }

    [Theory]
    [InlineData("unknown id", "Unknown token")]
    [InlineData("wrong secret", "Unknown token")]
    [InlineData("not a token", "Unknown token")]
    [InlineData("revoked", "Token revoked")]
    [InlineData("expired", "Token expired")]
    public async Task Bearer_RefusedToken_Is401WithAProblemSayingWhy(string kind, string title)
    {
        var created = await TestTokens.CreateNewAsync(_server, Alice, [ApiScopes.Events], DateTimeOffset.UtcNow.AddDays(1));
        var token = kind switch
        {
            "unknown id" => "ptl_000000000000_" + created.Token[^43..],
            "wrong secret" => created.Token[..^6] + "AAAAAA",
            "not a token" => "hello",
            _ => created.Token,
        };
        if (kind == "revoked")
        {
            Assert.True(await _server.Services.GetRequiredService<IApiTokenStore>().RevokeAsync(_aliceId, created.Info.Id, Ct));
        }
        if (kind == "expired")
        {
            await TestTokens.ExpireAsync(_server, created.Info.Id);
        }
        using var client = TestTokens.Client(_server, token);

        using var response = await client.GetAsync("/api/sessions", Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(title, problem.GetProperty("title").GetString());
        Assert.Contains("error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_TakesEffectOnTheNextRequest_401()
    {
        var created = await TestTokens.CreateNewAsync(_server, Alice, [ApiScopes.Events]);
        using var client = TestTokens.Client(_server, created.Token);
        using var before = await client.GetAsync("/api/sessions", Ct);

        await _server.Services.GetRequiredService<IApiTokenStore>().RevokeAsync(_aliceId, created.Info.Id, Ct);
        using var after = await client.GetAsync("/api/sessions", Ct);

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }

    [Fact]
    public async Task Revoke_SomeoneElsesToken_DoesNothing()
    {
        var bobId = await _server.CreateUserAsync("bob@portal.test");
        var alices = await TestTokens.CreateNewAsync(_server, Alice, [ApiScopes.Events]);

        var revoked = await _server.Services.GetRequiredService<IApiTokenStore>().RevokeAsync(bobId, alices.Info.Id, Ct);
        using var client = TestTokens.Client(_server, alices.Token);
        using var response = await client.GetAsync("/api/sessions", Ct);

        Assert.False(revoked);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("/api/sessions", ApiScopes.Events)]
    [InlineData("/sessions", ApiScopes.Events)]
    [InlineData("/hubs/probe", ApiScopes.Hub)]
    public async Task Bearer_WithoutTheScope_Is403NamingTheScope(string path, string scope)
    {
        using var client = TestTokens.Client(_server, await TestTokens.CreateAsync(_server, Alice, ApiScopes.Chat));

        using var response = await client.GetAsync(path, Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("Missing scope", problem.GetProperty("title").GetString());
        Assert.Contains($"'{scope}'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AdminApi_AnAdminsTokenWithoutTheAdminScope_Is403_WithIt_200()
    {
        using var events = TestTokens.Client(_server, await TestTokens.CreateAsync(_server, PortalTestServer.AdminEmail, ApiScopes.Events));
        using var admin = TestTokens.Client(_server, await TestTokens.CreateAsync(_server, PortalTestServer.AdminEmail, ApiScopes.Admin));

        using var refused = await events.GetAsync("/api/admin/status", Ct);
        using var allowed = await admin.GetAsync("/api/admin/status", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("'admin'", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
    }

    [Fact]
    public async Task AdminApi_AUsersToken_Is403AdminsOnly()
    {
        using var client = TestTokens.Client(_server, await TestTokens.CreateAsync(_server, Alice, ApiScopes.Events));

        using var status = await client.GetAsync("/api/admin/status", Ct);
        using var delete = await client.DeleteAsync($"/api/sessions/{_alices.Id}", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, status.StatusCode);
        Assert.Equal("Admins only", (await status.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, delete.StatusCode);
        Assert.NotNull(await _server.Services.GetRequiredService<ISessionStore>().GetAsync(_alices.Id, Ct));
    }

    [Fact]
    public async Task Create_TheAdminScopeByAUser_IsRefused()
    {
        var store = _server.Services.GetRequiredService<IApiTokenStore>();

        var result = await store.CreateAsync(await TestTokens.PrincipalAsync(_server, Alice), "sneaky", [ApiScopes.Events, ApiScopes.Admin], null, Ct);

        Assert.Null(result.Created);
        Assert.Equal("Only administrators can grant the admin scope.", result.Error);
        Assert.Empty(await store.ListAsync(_aliceId, Ct));
    }

    [Fact]
    public async Task Api_WithNoCredentials_Is401WithAProblemAndABearerChallenge()
    {
        using var client = _server.CreateClient();

        using var response = await client.GetAsync("/api/sessions", Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Sign in first", problem.GetProperty("title").GetString());
        Assert.Contains("'events'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/settings/tokens")]
    public async Task Bearer_OnAPage_IsIgnored_TheBrowserIsSentToSignIn(string path)
    {
        var token = await TestTokens.CreateAsync(_server, PortalTestServer.AdminEmail, [.. ApiScopes.All]);
        using var client = TestTokens.Client(_server, token);
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith("/account/login", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AccessTokenInTheQuery_OfAPlainRequest_Is401AskingForTheHeader()
    {
        var token = await TestTokens.CreateAsync(_server, Alice, ApiScopes.Events);
        using var client = _server.CreateClient();

        using var response = await client.GetAsync($"/api/sessions?access_token={token}", Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Token in the query", problem.GetProperty("title").GetString());
    }

    [Fact]
    public async Task TokenPrincipal_CarriesTheCookiesUserIdNameAndRoles_PlusItsScopes()
    {
        var adminId = (await TestTokens.PrincipalAsync(_server, PortalTestServer.AdminEmail)).UserId();
        using var tokenClient = TestTokens.Client(_server, await TestTokens.CreateAsync(_server, PortalTestServer.AdminEmail, ApiScopes.Hub, ApiScopes.Events));
        using var cookieClient = await _server.SignInAsync(PortalTestServer.AdminEmail);

        var byToken = await tokenClient.GetFromJsonAsync<Probe>("/hubs/probe", Ct);
        var byCookie = await cookieClient.GetFromJsonAsync<Probe>("/hubs/probe", Ct);

        Assert.Equal((adminId, PortalTestServer.AdminEmail, true, true), (byToken!.Id, byToken.Name, byToken.Admin, byToken.Token));
        Assert.Equal([ApiScopes.Hub, ApiScopes.Events], byToken.Scopes);
        Assert.Equal((adminId, PortalTestServer.AdminEmail, true, false), (byCookie!.Id, byCookie.Name, byCookie.Admin, byCookie.Token));
    }

    [Fact(Timeout = 30_000)]
    public async Task RequireScope_HubWebSocketWithTheTokenInTheQuery_Upgrades_WithoutTheScope_403()
    {
        var hub = await TestTokens.CreateAsync(_server, Alice, ApiScopes.Hub);
        var events = await TestTokens.CreateAsync(_server, Alice, ApiScopes.Events);
        using var socket = new ClientWebSocket();

        await socket.ConnectAsync(TestTokens.SocketUri(_server, "/hubs/probe/ws", "access_token=" + hub), Ct);
        var buffer = new byte[256];
        var received = await socket.ReceiveAsync(buffer, Ct);
        using var refused = await TestTokens.SendUpgradeAsync(_server.CreateClient(), "/hubs/probe/ws?access_token=" + events);

        Assert.Equal(Alice, Encoding.UTF8.GetString(buffer, 0, received.Count));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("'hub'", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Theory(Timeout = 30_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AgentSocket_WithATokenOfTheAgentScope_ConnectsAsItsOwner(bool inQuery)
    {
        var token = await TestTokens.CreateAsync(_server, Alice, ApiScopes.Agent);

        await using var client = await AgentSocketClient.ConnectWithTokenAsync(_server, token, inQuery);
        var session = await _server.Services.GetRequiredService<ISessionStore>().GetAsync(client.SessionId!, Ct);

        Assert.Equal(_aliceId, session!.OwnerId);
    }

    [Fact(Timeout = 30_000)]
    public async Task ChatSocket_WithATokenOfTheChatScopeInTheQuery_ConnectsAsItsOwner()
    {
        var token = await TestTokens.CreateAsync(_server, Alice, ApiScopes.Chat);
        using var socket = new ClientWebSocket();

        await socket.ConnectAsync(TestTokens.SocketUri(_server, "/ws/chat", "access_token=" + token), Ct);
        var buffer = new byte[4096];
        var received = await socket.ReceiveAsync(buffer, Ct);
        using var welcome = JsonDocument.Parse(buffer.AsMemory(0, received.Count));
        var session = await _server.Services.GetRequiredService<ISessionStore>().GetAsync(welcome.RootElement.GetProperty("sessionId").GetString()!, Ct);

        Assert.Equal(_aliceId, session!.OwnerId);
    }

    [Theory(Timeout = 30_000)]
    [InlineData("/ws/agent", ApiScopes.Agent)]
    [InlineData("/ws/chat", ApiScopes.Chat)]
    public async Task Sockets_WithATokenLackingTheScope_Are403NamingIt(string path, string scope)
    {
        using var client = TestTokens.Client(_server, await TestTokens.CreateAsync(_server, Alice, ApiScopes.Events, ApiScopes.Hub));

        using var response = await TestTokens.SendUpgradeAsync(client, path);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("Missing scope", problem.GetProperty("title").GetString());
        Assert.Contains($"'{scope}'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory(Timeout = 30_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AgentSocket_WithARevokedToken_Is401SayingRevoked(bool inQuery)
    {
        var created = await TestTokens.CreateNewAsync(_server, Alice, [ApiScopes.Agent]);
        await _server.Services.GetRequiredService<IApiTokenStore>().RevokeAsync(_aliceId, created.Info.Id, Ct);
        using var client = inQuery ? _server.CreateClient() : TestTokens.Client(_server, created.Token);

        using var response = await TestTokens.SendUpgradeAsync(client, inQuery ? "/ws/agent?access_token=" + created.Token : "/ws/agent");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Token revoked", problem.GetProperty("title").GetString());
    }

    [Fact(Timeout = 30_000)]
    public async Task AgentSocket_WithNoCredentials_Is401NamingTheCookieAndTheScope()
    {
        using var response = await TestTokens.SendUpgradeAsync(_server.CreateClient(), "/ws/agent");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Sign in first", problem.GetProperty("title").GetString());
        Assert.Contains("'agent'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_IsStoredAsItsHashOnly_AndItsUseIsRecorded()
    {
        var created = await TestTokens.CreateNewAsync(_server, Alice, [ApiScopes.Events]);
        using var client = TestTokens.Client(_server, created.Token);
        using var response = await client.GetAsync("/api/sessions", Ct);

        var listed = Assert.Single(await _server.Services.GetRequiredService<IApiTokenStore>().ListAsync(_aliceId, Ct));
        var secret = Encoding.ASCII.GetBytes(created.Token[^43..]);
        var files = Directory.GetFiles(_server.Folder, "portal.db*");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(listed.LastUsedAt);
        Assert.StartsWith("ptl_" + listed.Id + "_", created.Token, StringComparison.Ordinal);
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, Ct);
            Assert.Equal(-1, copy.ToArray().AsSpan().IndexOf(secret));
        }
    }
}
