using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Security;

/// <summary>
/// X-Forwarded-For is believed only from trusted proxies. What Portal takes as the client's address is observed where an
/// admin sees it: the remote address recorded when a widget connects to /ces.
/// </summary>
public sealed class ForwardedHeadersTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Connects to /ces as a widget behind a proxy would, hangs up, and returns the address Portal recorded.</summary>
    private static async Task<string> RecordedClientAddressAsync(PortalTestServer server, string forwardedFor)
    {
        using (var socket = new ClientWebSocket())
        {
            socket.Options.SetRequestHeader("X-Forwarded-For", forwardedFor);
            socket.Options.SetRequestHeader("Origin", "https://shop.example.com");
            await socket.ConnectAsync(new UriBuilder(server.BaseAddress) { Scheme = "ws", Path = "/ces" }.Uri, Ct);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", Ct);
        }
        using var admin = await server.SignInAsync(PortalTestServer.AdminEmail);
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var sessions = await admin.GetFromJsonAsync<JsonElement>("/api/sessions?kind=ces-proxy", Ct);
            if (sessions.GetProperty("total").GetInt32() > 0)
            {
                var id = sessions.GetProperty("items")[0].GetProperty("id").GetString();
                var events = await admin.GetFromJsonAsync<JsonElement>($"/api/sessions/{id}/events", Ct);
                var started = events.GetProperty("events").EnumerateArray().First(e => e.GetProperty("type").GetString() == "session_started");
                return started.GetProperty("payload").GetProperty("remoteAddress").GetString()!;
            }
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException("No ces-proxy session was recorded.");
    }

    [Fact]
    public async Task XForwardedFor_FromATrustedProxyOnThisMachine_IsTheClientAddress()
    {
        await using var server = await PortalTestServer.StartAsync();

        var address = await RecordedClientAddressAsync(server, "203.0.113.7");

        Assert.Equal("203.0.113.7", address);
    }

    [Fact]
    public async Task XForwardedFor_WithAnEntryTheClientMadeUp_UsesOnlyTheEntryOfTheTrustedProxy()
    {
        await using var server = await PortalTestServer.StartAsync();

        // The client sent "X-Forwarded-For: 198.51.100.66"; nginx ($proxy_add_x_forwarded_for) appended the real address.
        var address = await RecordedClientAddressAsync(server, "198.51.100.66, 203.0.113.7");

        Assert.Equal("203.0.113.7", address);
    }

    [Fact]
    public async Task XForwardedFor_FromAnUntrustedPeer_IsIgnored()
    {
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:ForwardedHeaders:TrustLoopback"] = "false",
            ["Portal:ForwardedHeaders:KnownProxies:0"] = "10.0.0.5",
            ["Portal:ForwardedHeaders:KnownNetworks:0"] = "172.18.0.0/16",
        });

        var address = await RecordedClientAddressAsync(server, "203.0.113.7");

        Assert.Equal("127.0.0.1", address);
    }

    [Fact]
    public async Task CesTextMode_BehindATrustedProxy_PassesNoForwardingHeadersUpstream()
    {
        await using var upstream = await FakeCesUpstream.StartAsync();
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["CesProxy:TextApiBaseUrl"] = upstream.BaseAddress.ToString(),
            ["CesProxy:CredentialsFile"] = "/nonexistent.json",
        });
        using var http = server.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/ces/v1/projects/test-project/locations/us/apps/app-1");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "ya29.widget-own");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "portal.example.com");

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var headers = Assert.Single(upstream.TextRequests).Headers;
        Assert.DoesNotContain(headers.Keys, h => h.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase) || h.StartsWith("X-Original-", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task StartUp_WithAProxyThatIsNotAnAddress_FailsNamingTheSetting()
    {
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            PortalTestServer.StartAsync(new() { ["Portal:ForwardedHeaders:KnownNetworks"] = "172.18.0.0/16;nginx.internal" }));

        Assert.Contains("Portal:ForwardedHeaders:KnownNetworks", failure.Message, StringComparison.Ordinal);
        Assert.Contains("nginx.internal", failure.Message, StringComparison.Ordinal);
    }
}
