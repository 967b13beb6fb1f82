using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Portal.Testing;

namespace Portal.IntegrationTests.Components;

/// <summary>The Blazor circuit's WebSocket (<c>/_blazor</c>): compression as <c>Portal:Ui:WebSocketCompression</c> says, and the pages' framing policy either way.</summary>
public sealed class CircuitSocketTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // One test, in this order: once a host in this process has accepted a compressed circuit, every later accept with
    // ASP.NET's default WebSocketAcceptContext is compressed too (Blazor's socket feature sets DangerousEnableCompression
    // on the context it is handed, and DefaultWebSocketManager hands everyone the same static one).
    [Fact]
    public async Task CircuitSocket_ByDefault_IsNotCompressed_AndIsWithTheOptionOn()
    {
        string byDefault;
        await using (var server = await PortalTestServer.StartAsync())
        {
            byDefault = await UpgradeCircuitAsync(server);
        }
        string withOption;
        await using (var server = await PortalTestServer.StartAsync(new() { ["Portal:Ui:WebSocketCompression"] = "true" }))
        {
            withOption = await UpgradeCircuitAsync(server);
        }

        Assert.DoesNotContain("permessage-deflate", byDefault, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("permessage-deflate", withOption, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("false")]
    [InlineData("true")]
    public async Task Page_WithCompressionOnOrOff_MayBeFramedByPortalsOwnPagesOnly(string compression)
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Ui:WebSocketCompression"] = compression });
        using var client = server.CreateClient();

        using var response = await client.GetAsync("/account/login", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("frame-ancestors 'self'", Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
    }

    [Fact]
    public async Task StartUp_WithACompressionSettingThatIsNotABoolean_FailsNamingIt()
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => PortalTestServer.StartAsync(new() { ["Portal:Ui:WebSocketCompression"] = "sometimes" }));

        Assert.Contains("Portal:Ui:WebSocketCompression", failure.ToString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Opens the circuit's socket as <c>blazor.web.js</c> does (negotiate, then upgrade with the connection token),
    /// offering permessage-deflate as Chromium does, and returns the <c>Sec-WebSocket-Extensions</c> Portal answered.
    /// </summary>
    private static async Task<string> UpgradeCircuitAsync(PortalTestServer server)
    {
        var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);
        var origin = server.BaseAddress.GetLeftPart(UriPartial.Authority);
        using var client = server.CreateClient(cookies);
        using var negotiate = new HttpRequestMessage(HttpMethod.Post, "/_blazor/negotiate?negotiateVersion=1");
        negotiate.Headers.Add("Origin", origin);
        using var negotiated = await client.SendAsync(negotiate, Ct);
        negotiated.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await negotiated.Content.ReadAsStringAsync(Ct));
        var token = body.RootElement.GetProperty("connectionToken").GetString();

        using var socket = new ClientWebSocket();
        socket.Options.Cookies = cookies;
        socket.Options.SetRequestHeader("Origin", origin);
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.DangerousDeflateOptions = new WebSocketDeflateOptions();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        await socket.ConnectAsync(new UriBuilder(server.BaseAddress) { Scheme = "ws", Path = "/_blazor", Query = "id=" + Uri.EscapeDataString(token!) }.Uri, timeout.Token);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, socket.HttpStatusCode);
        var extensions = socket.HttpResponseHeaders!.TryGetValue("Sec-WebSocket-Extensions", out var values) ? string.Join(", ", values) : "";
        socket.Abort();
        return extensions;
    }
}
