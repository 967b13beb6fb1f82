using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Ces;

/// <summary>The widget through Portal's /ces: every proxied connection becomes a ces-proxy session an admin can read.</summary>
public sealed class CesProxyRecordingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(PortalTestServer Server, FakeCesUpstream Upstream)> StartAsync(Dictionary<string, string?>? extra = null)
    {
        var upstream = await FakeCesUpstream.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["CesProxy:AppsEndpointTemplate"] = upstream.AppsTemplate,
            ["CesProxy:TextApiBaseUrl"] = upstream.BaseAddress.ToString(),
            ["CesProxy:CredentialsFile"] = "/nonexistent.json",
            ["AUTHORIZED_ORIGINS"] = "https://shop.example.com",
        };
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }
        return (await PortalTestServer.StartAsync(settings), upstream);
    }

    [Fact]
    public async Task WidgetConversation_IsRecordedAsACesProxySessionWithoutTheToken()
    {
        var (server, upstream) = await StartAsync();
        await using var serverScope = server;
        await using var upstreamScope = upstream;
        await using (var widget = await WidgetClient.ConnectAsync(new Uri($"ws://{server.BaseAddress.Authority}/ces"), cancellationToken: Ct))
        {
            await widget.SendConfigAsync(accessToken: "ya29.widget-secret-token-1234567890", environment: "prod");
            await widget.SendTextAsync("hi!");
            for (var i = 0; i < 5; i++)
            {
                await widget.ReceiveAsync();
            }
            for (var i = 0; i < 3; i++)
            {
                await widget.SendAudioChunkAsync();
            }
            await widget.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", Ct);
        }

        using var admin = await server.SignInAsync(PortalTestServer.AdminEmail);
        var sessions = await WaitForEndedAsync(admin);
        var session = sessions.GetProperty("items")[0];
        var id = session.GetProperty("id").GetString();
        var events = await admin.GetFromJsonAsync<JsonElement>($"/api/sessions/{id}/events?limit=1000", Ct);
        var list = events.GetProperty("events").EnumerateArray().ToList();
        var export = await admin.GetStringAsync($"/api/sessions/{id}/export.jsonl", Ct);

        Assert.Equal("ces-proxy", session.GetProperty("kind").GetString());
        Assert.Equal("projects/test-project/locations/us/apps/app-1", session.GetProperty("agent").GetString());
        Assert.Equal("Widget session 6f1c2d3e-0000-4000-8000-000000000001", session.GetProperty("title").GetString());
        Assert.Equal(["session_started", "config", "upstream", "upstream_connected"], list.Take(4).Select(Type));
        Assert.Equal("session_ended", Type(list[^1]));
        var ended = list[^1].GetProperty("payload");
        Assert.Equal(1000, ended.GetProperty("client").GetProperty("code").GetInt32());
        Assert.Equal("client", ended.GetProperty("initiator").GetString());
        Assert.Equal(3, ended.GetProperty("frames").GetProperty("audio").GetProperty("in").GetProperty("frames").GetInt32());
        Assert.Contains(list, e => Type(e) == "upstream_first_byte");
        Assert.Contains(list, e => Type(e) == "proxy_frame" && e.GetProperty("direction").GetString() == "in"
            && e.GetProperty("payload").GetProperty("realtimeInput").GetProperty("text").GetString() == "hi!");
        Assert.Contains(list, e => Type(e) == "proxy_frame" && e.GetProperty("direction").GetString() == "out"
            && e.GetProperty("payload").TryGetProperty("sessionOutput", out _));
        Assert.DoesNotContain("widget-secret-token", export, StringComparison.Ordinal);
        Assert.DoesNotContain("widget-secret-token", list.Select(e => e.GetRawText()).Aggregate(string.Concat), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RefusedOrigin_Is403AndLeavesNoSession()
    {
        var (server, upstream) = await StartAsync();
        await using var serverScope = server;
        await using var upstreamScope = upstream;

        await Assert.ThrowsAsync<WebSocketException>(() =>
            WidgetClient.ConnectAsync(new Uri($"ws://{server.BaseAddress.Authority}/ces"), "https://evil.example.com", Ct));

        using var admin = await server.SignInAsync(PortalTestServer.AdminEmail);
        var sessions = await admin.GetFromJsonAsync<JsonElement>("/api/sessions?kind=ces-proxy", Ct);
        Assert.Equal(0, sessions.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task LongFrame_IsStoredAsAPreviewWithItsOriginalSize()
    {
        var (server, upstream) = await StartAsync(new() { ["CesProxy:RecordedPayloadBytes"] = "2048" });
        await using var serverScope = server;
        await using var upstreamScope = upstream;
        upstream.Mode = UpstreamMode.Echo;
        await using (var widget = await WidgetClient.ConnectAsync(new Uri($"ws://{server.BaseAddress.Authority}/ces"), cancellationToken: Ct))
        {
            await widget.SendConfigAsync(accessToken: "ya29.x");
            await widget.SendJsonAsync(new { realtimeInput = new { text = new string('q', 30_000) } });
            await widget.ReceiveAsync();
            await widget.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Ct);
        }

        using var admin = await server.SignInAsync(PortalTestServer.AdminEmail);
        var id = (await WaitForEndedAsync(admin)).GetProperty("items")[0].GetProperty("id").GetString();
        var events = await admin.GetFromJsonAsync<JsonElement>($"/api/sessions/{id}/events?limit=1000", Ct);
        var frame = events.GetProperty("events").EnumerateArray().First(e => Type(e) == "proxy_frame");

        Assert.True(frame.GetProperty("payload").GetProperty("truncated").GetBoolean());
        Assert.Equal(30_029, frame.GetProperty("payload").GetProperty("originalBytes").GetInt64());
        Assert.Equal(30_029, frame.GetProperty("size").GetInt32());
    }

    private static string Type(JsonElement e) => e.GetProperty("type").GetString()!;

    private static async Task<JsonElement> WaitForEndedAsync(HttpClient admin)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var sessions = await admin.GetFromJsonAsync<JsonElement>("/api/sessions?kind=ces-proxy&status=ended", Ct);
            if (sessions.GetProperty("total").GetInt32() > 0)
            {
                return sessions;
            }
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException("No ended ces-proxy session was recorded.");
    }
}
