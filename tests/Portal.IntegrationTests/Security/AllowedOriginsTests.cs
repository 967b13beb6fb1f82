using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Options;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

/// <summary>
/// Portal:AllowedOrigins before every WebSocket upgrade and hub request (/ws, /hubs, /_blazor), while /ces keeps its
/// own AUTHORIZED_ORIGINS.
/// </summary>
public sealed class AllowedOriginsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Uri Ws(PortalTestServer server, string path) => new UriBuilder(server.BaseAddress) { Scheme = "ws", Path = path }.Uri;

    private static async Task<HttpStatusCode?> ConnectAsync(PortalTestServer server, string path, string origin, CookieContainer? cookies = null)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.Cookies = cookies;
        socket.Options.SetRequestHeader("Origin", origin);
        try
        {
            await socket.ConnectAsync(Ws(server, path), Ct);
            socket.Abort();
            return HttpStatusCode.SwitchingProtocols;
        }
        catch (WebSocketException)
        {
            return socket.HttpStatusCode;
        }
    }

    [Theory]
    [InlineData("/ws/agent")]
    [InlineData("/ws/chat")]
    public async Task Upgrade_FromAnOriginInPortalAllowedOrigins_IsAccepted(string path)
    {
        // One variable, ;-separated, as it would come from the environment.
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:AllowedOrigins"] = "https://tools.example.com; https://ops.example.com/" });
        var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);

        var status = await ConnectAsync(server, path, "https://ops.example.com", cookies);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, status);
    }

    [Theory]
    [InlineData("/ws/agent")]
    [InlineData("/ws/chat")]
    [InlineData("/_blazor")]
    [InlineData("/hubs/session")]
    public async Task Upgrade_FromAnotherOrigin_Is403BeforeTheEndpointRuns(string path)
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:AllowedOrigins:0"] = "https://tools.example.com" });
        var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);

        var status = await ConnectAsync(server, path, "https://tools.example.com.evil.example", cookies);

        Assert.Equal(HttpStatusCode.Forbidden, status);
    }

    [Theory]
    [InlineData("SELF", HttpStatusCode.OK)]
    [InlineData("http://127.0.0.1:1", HttpStatusCode.Forbidden)]
    public async Task BlazorCircuitNegotiation_IsAllowedOnlyFromPortalsOwnPages(string origin, HttpStatusCode expected)
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = await server.SignInAsync(PortalTestServer.AdminEmail);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_blazor/negotiate?negotiateVersion=1");
        request.Headers.Add("Origin", origin == "SELF" ? server.BaseAddress.GetLeftPart(UriPartial.Authority) : origin);

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(expected, response.StatusCode);
    }

    [Theory]
    [InlineData("https://tools.example.com", HttpStatusCode.Forbidden)]
    [InlineData("https://shop.example.com", HttpStatusCode.SwitchingProtocols)]
    public async Task CesProxy_FollowsAuthorizedOriginsNotPortalAllowedOrigins(string origin, HttpStatusCode expected)
    {
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:AllowedOrigins:0"] = "https://tools.example.com",
            ["AUTHORIZED_ORIGINS"] = "https://shop.example.com",
        });

        var status = await ConnectAsync(server, "/ces", origin);

        Assert.Equal(expected, status);
    }

    [Fact]
    public async Task StartUp_WithAnAllowedOriginThatIsNotAnOrigin_FailsNamingTheSetting()
    {
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            PortalTestServer.StartAsync(new() { ["Portal:AllowedOrigins:0"] = "https://tools.example.com/app" }));

        Assert.Contains("Portal:AllowedOrigins", failure.Message, StringComparison.Ordinal);
        Assert.Contains("https://tools.example.com/app", failure.Message, StringComparison.Ordinal);
    }
}
