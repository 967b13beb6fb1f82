using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Portal.Admin;
using Portal.Agents.Chat;
using Portal.Security.Limits;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

/// <summary>Portal:Limits on real Kestrel: connections, sessions per hour, messages per user, API requests, and the status page's counts.</summary>
public sealed class LimitsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 60_000)]
    public async Task ThirdChatSocket_OverTwoPerUser_Is429WithRetryAfter_AndClosingOneLetsTheNextIn()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:ConnectionsPerUser"] = "2" });
        var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);
        using var first = await ConnectAsync(server, "/ws/chat", cookies);
        using var second = await ConnectAsync(server, "/ws/chat", cookies);

        var (status, retryAfter, problem) = await RefusedConnectAsync(server, "/ws/chat", cookies);

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.NotNull(retryAfter);
        Assert.Contains("2 connections open to /ws/chat", problem, StringComparison.Ordinal);
        Assert.Contains("\"limit\":\"ConnectionsPerUser\"", problem, StringComparison.Ordinal);

        await first.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Ct);
        await WaitUntilAsync(async () => (await TryConnectAsync(server, "/ws/chat", cookies)) is { } third && Dispose(third));
        // Refused twice: the WebSocket client, then the same request over HTTP to read the problem text.
        Assert.Equal(2, Status(server).Single(l => l.Kind == LimitKind.ConnectionsPerUser).Refused);
    }

    [Fact(Timeout = 60_000)]
    public async Task ConnectionsPerUser_CountPerEndpoint_AnAgentSocketStillOpensBesideTwoChatSockets()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:ConnectionsPerUser"] = "2" });
        var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);
        using var first = await ConnectAsync(server, "/ws/chat", cookies);
        using var second = await ConnectAsync(server, "/ws/chat", cookies);

        using var agent = await ConnectAsync(server, "/ws/agent", cookies);

        Assert.Equal(WebSocketState.Open, agent.State);
    }

    [Fact(Timeout = 60_000)]
    public async Task EnabledFalse_TurnsEveryLimitOff_ASecondSocketOverALimitOfOneOpens()
    {
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Limits:ConnectionsPerUser"] = "1",
            ["Portal:Limits:Enabled"] = "false",
        });
        var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);
        using var first = await ConnectAsync(server, "/ws/chat", cookies);

        using var second = await ConnectAsync(server, "/ws/chat", cookies);

        Assert.Equal(WebSocketState.Open, second.State);
        Assert.All(Status(server), l => Assert.Equal(0, l.Limit));
    }

    [Fact(Timeout = 60_000)]
    public async Task ThirdWidgetConnection_OverTwoPerIp_Is429BeforeTheUpgrade()
    {
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Limits:ConnectionsPerIp"] = "2",
            ["CesProxy:CredentialsFile"] = "/nonexistent.json",
        });
        using var first = await ConnectAsync(server, "/ces", cookies: null);
        using var second = await ConnectAsync(server, "/ces", cookies: null);

        var (status, _, problem) = await RefusedConnectAsync(server, "/ces", cookies: null);

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.Contains("Your address has 2 connections open to /ces", problem, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task ThirdNewSessionInAnHour_OverTwoPerUser_Is429_ButResumingASessionIsNotANewOne()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:SessionsPerHourPerUser"] = "2" });
        var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);
        string sessionId;
        using (var agent = await ConnectAsync(server, "/ws/agent", cookies))
        {
            sessionId = (await ReceiveAsync(agent)).GetProperty("payload").GetProperty("sessionId").GetString()!;
            await agent.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Ct);
        }
        using (var chat = await ConnectAsync(server, "/ws/chat", cookies))
        {
            await chat.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Ct);
        }

        var (status, _, problem) = await RefusedConnectAsync(server, "/ws/chat", cookies);
        using var resumed = await ConnectAsync(server, $"/ws/agent?sessionId={sessionId}&afterSeq=0", cookies);

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.Contains("You started 2 sessions in the last hour", problem, StringComparison.Ordinal);
        Assert.Equal(WebSocketState.Open, resumed.State);
    }

    [Fact(Timeout = 60_000)]
    public async Task NewConversationOnTheChatPage_OverTheHourlyAllowance_IsRefusedWithTheReason()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:SessionsPerHourPerUser"] = "1" });
        var chat = server.Services.GetRequiredService<ChatService>();
        var userId = await server.CreateUserAsync("someone@portal.test");
        var user = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, userId)], "test"));
        await chat.StartConversationAsync(user, null, Ct);

        var refused = await Assert.ThrowsAsync<LimitExceededException>(() => chat.StartConversationAsync(user, null, Ct));

        Assert.Equal(LimitKind.SessionsPerHourPerUser, refused.Refusal.Kind);
        Assert.Contains("Try again in", refused.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task MessagesOverTheUsersRate_AcrossTwoConnections_AreRefusedWithAnErrorSayingSo()
    {
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Limits:MessagesPerSecondPerUser"] = "4",
            ["Portal:Sockets:MessagesPerSecond"] = "100",
            ["Portal:Sockets:Burst"] = "100",
        });
        var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);
        using var one = await ConnectAsync(server, "/ws/chat", cookies);
        using var two = await ConnectAsync(server, "/ws/chat", cookies);
        await ReceiveAsync(one);
        await ReceiveAsync(two);

        for (var i = 0; i < 6; i++)
        {
            await SendAsync(one, new { type = "command", content = "ping" });
            await SendAsync(two, new { type = "command", content = "ping" });
        }
        var frames = new List<JsonElement>();
        frames.AddRange(await ReceiveForAsync(one, TimeSpan.FromSeconds(1)));
        frames.AddRange(await ReceiveForAsync(two, TimeSpan.FromSeconds(1)));

        var pongs = frames.Count(f => f.TryGetProperty("content", out var c) && c.GetString() == "pong");
        Assert.InRange(pongs, 4, 6);
        var errors = frames.Where(f => f.GetProperty("type").GetString() == "error").Select(f => f.GetProperty("content").GetString()).ToList();
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.Contains("4 a second over all your connections", e, StringComparison.Ordinal));
        Assert.True(Status(server).Single(l => l.Kind == LimitKind.MessagesPerSecondPerUser).Refused >= 6);
    }

    [Fact(Timeout = 60_000)]
    public async Task FourthApiRequestInAMinute_OverThree_Is429WithRetryAfterAndAProblem_AndTheStatusApiCountsIt()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:ApiRequestsPerMinute"] = "3" });
        using var client = await server.SignInAsync(PortalTestServer.AdminEmail);
        for (var i = 0; i < 3; i++)
        {
            using var ok = await client.GetAsync("/api/sessions", Ct);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var refused = await client.GetAsync("/api/sessions", Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Contains("At most 3 API requests a minute", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(1, Status(server).Single(l => l.Kind == LimitKind.ApiRequestsPerMinute).Refused);
    }

    [Fact(Timeout = 60_000)]
    public async Task Limits_AreOnTheStatusApi_WithTheirValuesAndRefusals()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:ConnectionsPerUser"] = "7" });
        using var client = await server.SignInAsync(PortalTestServer.AdminEmail);

        var status = await client.GetFromJsonAsync<JsonElement>("/api/admin/status", Ct);

        var limits = status.GetProperty("limits").EnumerateArray().ToList();
        Assert.Equal(6, limits.Count);
        Assert.Contains(limits, l => l.GetProperty("name").GetString() == "Connections per user, per endpoint" && l.GetProperty("limit").GetDouble() == 7);
    }

    private static IReadOnlyList<LimitCount> Status(PortalTestServer server) => server.Services.GetRequiredService<StatusService>().Read().Limits;

    private static bool Dispose(ClientWebSocket disposable)
    {
        disposable.Dispose();
        return true;
    }

    private static Uri SocketUri(PortalTestServer server, string path) => new($"ws://{server.BaseAddress.Authority}{path}");

    private static async Task<ClientWebSocket> ConnectAsync(PortalTestServer server, string path, CookieContainer? cookies) =>
        await TryConnectAsync(server, path, cookies) ?? throw new InvalidOperationException($"Could not connect to {path}.");

    private static async Task<ClientWebSocket?> TryConnectAsync(PortalTestServer server, string path, CookieContainer? cookies)
    {
        var socket = new ClientWebSocket();
        if (cookies is not null)
        {
            socket.Options.Cookies = cookies;
        }
        try
        {
            await socket.ConnectAsync(SocketUri(server, path), Ct);
            return socket;
        }
        catch (WebSocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    private static async Task<(HttpStatusCode Status, string? RetryAfter, string Problem)> RefusedConnectAsync(PortalTestServer server, string path, CookieContainer? cookies)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (cookies is not null)
        {
            socket.Options.Cookies = cookies;
        }
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(SocketUri(server, path), Ct));
        // ClientWebSocket keeps the status and headers of a refused upgrade, not its body: ask again over HTTP for the problem text.
        using var client = server.CreateClient(cookies);
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Connection", "Upgrade");
        request.Headers.Add("Upgrade", "websocket");
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(Guid.NewGuid().ToByteArray()));
        using var response = await client.SendAsync(request, Ct);
        var retry = socket.HttpResponseHeaders?.TryGetValue("Retry-After", out var values) == true ? values.FirstOrDefault() : null;
        return (socket.HttpStatusCode, retry, await response.Content.ReadAsStringAsync(Ct));
    }

    private static Task SendAsync(ClientWebSocket socket, object frame) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(frame)), WebSocketMessageType.Text, true, Ct);

    private static async Task<JsonElement> ReceiveAsync(ClientWebSocket socket)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        return await ReceiveFrameAsync(socket, timeout.Token) ?? throw new InvalidOperationException("Closed.");
    }

    private static async Task<List<JsonElement>> ReceiveForAsync(ClientWebSocket socket, TimeSpan quiet)
    {
        var frames = new List<JsonElement>();
        while (true)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(quiet);
            try
            {
                if (await ReceiveFrameAsync(socket, timeout.Token) is not { } frame)
                {
                    return frames;
                }
                frames.Add(frame);
            }
            catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
            {
                return frames;
            }
        }
    }

    private static async Task<JsonElement?> ReceiveFrameAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        var count = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(count), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            count += result.Count;
            if (result.EndOfMessage)
            {
                using var document = JsonDocument.Parse(buffer.AsMemory(0, count));
                return document.RootElement.Clone();
            }
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not hold within 10 s.");
            await Task.Delay(100, Ct);
        }
    }
}
