using System.Net;
using System.Net.WebSockets;
using System.Text;
using Portal.Testing.Fakes;

namespace Proxy.Tests.Forwarding;

/// <summary>Bad first messages and refused connections: each gets its close code or status, nothing reaches the upstream, nothing leaks.</summary>
public sealed class FirstMessageTests
{
    public static TheoryData<string, string> BadFirstMessages => new()
    {
        { "hello there", "Invalid JSON" },
        { "{\"config\": ", "Invalid JSON" },
        { "[1,2,3]", "Invalid first message" },
        { "{\"realtimeInput\":{\"text\":\"hi\"}}", "Invalid first message" },
        { "{\"config\":{}}", "Invalid first message" },
        { "{\"config\":{\"deployment\":\"projects/p/locations/us/apps/a/deployments/d\"}}", "No session provided" },
        { "{\"config\":{\"session\":\"\"}}", "No session provided" },
        { "{\"config\":{\"session\":\"sessions/123\"}}", "Invalid session format" },
        { "{\"config\":{\"session\":\"projects/p/locations/us/things/x/sessions/1\"}}", "Invalid session format" },
        // The location goes into the upstream host name for Playbooks agents: anything but a location is refused.
        { "{\"configMessage\":{\"session\":\"projects/p/locations/evil.example.com/x?/agents/a/sessions/1\"}}", "Invalid session format" },
        // Values that become upstream header values cannot smuggle headers in.
        { "{\"config\":{\"session\":\"projects/p\\r\\nX-Evil: 1/locations/us/apps/a/sessions/1\"}}", "Invalid session format" },
        { "{\"config\":{\"session\":\"projects/p/locations/us/apps/a/sessions/1\",\"accessToken\":\"ya29.x\\r\\nX-Evil: 1\"}}", "Invalid access token" },
    };

    [Theory]
    [MemberData(nameof(BadFirstMessages))]
    public async Task BadFirstMessage_Is1002WithTheReason_AndNeverReachesTheUpstream(string first, string reason)
    {
        await using var host = await ProxyTestHost.StartAsync();
        await using var widget = await host.ConnectAsync();

        await widget.SendRawAsync(Encoding.UTF8.GetBytes(first), WebSocketMessageType.Text);
        var (_, status, closeReason) = await widget.ReceiveUntilCloseAsync();

        Assert.Equal((WebSocketCloseStatus.ProtocolError, reason), (status, closeReason));
        Assert.Empty(host.Upstream.Connections);
        Assert.Equal(0, host.OAuth.Requests);
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task HugeFirstFrame_Is1009()
    {
        await using var host = await ProxyTestHost.StartAsync();
        await using var widget = await host.ConnectAsync();

        await widget.SendRawAsync(Encoding.UTF8.GetBytes("{\"config\":{\"session\":\"" + new string('a', 200_000) + "\"}}"), WebSocketMessageType.Text);
        var (_, status, reason) = await widget.ReceiveUntilCloseAsync();

        Assert.Equal((WebSocketCloseStatus.MessageTooBig, "Config message too big"), (status, reason));
        Assert.Empty(host.Upstream.Connections);
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task NoFirstFrame_ClosedWith1002AfterTheTimeout()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["CesProxy:FirstMessageTimeout"] = "00:00:00.500" });
        await using var widget = await host.ConnectAsync();

        var started = DateTime.UtcNow;
        var (_, status, reason) = await widget.ReceiveUntilCloseAsync();

        Assert.Equal((WebSocketCloseStatus.ProtocolError, "No config message within 0.5 s"), (status, reason));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task ClientClosesBeforeItsConfig_CloseIsCompletedAndRecorded()
    {
        await using var host = await ProxyTestHost.StartAsync();
        await using var widget = await host.ConnectAsync();

        await widget.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "changed my mind", CancellationToken.None);
        var recorded = await host.Observer.ClosedConnectionAsync();

        Assert.Equal(WebSocketState.Closed, widget.Socket.State);
        Assert.Equal(("client", 1000), (recorded.Close!.Initiator, recorded.Close.ClientCloseStatus));
        await host.AssertNoLeaksAsync();
    }

    [Theory]
    [InlineData("https://evil.example.com")]
    [InlineData("https://shop.example.com.evil.com")]
    [InlineData(null)]
    public async Task OriginNotAllowed_Is403BeforeTheUpgrade(string? origin)
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["AUTHORIZED_ORIGINS"] = " https://shop.example.com/ ; https://staging.example.com:8443" });

        var refused = await Assert.ThrowsAsync<WebSocketException>(() => host.ConnectAsync(origin));

        Assert.Contains("403", refused.Message, StringComparison.Ordinal);
        Assert.Empty(host.Observer.Connections);
        Assert.Empty(host.Upstream.Connections);
        Assert.Equal(0, host.Metrics.TotalConnections);
    }

    [Theory]
    [InlineData("https://shop.example.com")]
    [InlineData("https://staging.example.com:8443")]
    [InlineData("HTTPS://SHOP.EXAMPLE.COM")]
    public async Task OriginOnTheList_IsAccepted(string origin)
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["AUTHORIZED_ORIGINS"] = "https://shop.example.com/;https://staging.example.com:8443" });

        await using var widget = await host.ConnectAsync(origin);

        Assert.Equal(WebSocketState.Open, widget.Socket.State);
    }

    [Theory]
    [InlineData("true", "http://localhost:5173", true)]
    [InlineData("1", "https://localhost", true)]
    [InlineData("yes", "http://localhost:8080", true)]
    [InlineData("false", "http://localhost:5173", false)]
    [InlineData("true", "http://localhost.evil.com", false)]
    public async Task AllowLocalhost_AllowsOnlyLocalhostOrigins(string allow, string origin, bool accepted)
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["AUTHORIZED_ORIGINS"] = "https://shop.example.com", ["ALLOW_LOCALHOST"] = allow });

        var connecting = host.ConnectAsync(origin);

        if (accepted)
        {
            await using var widget = await connecting;
            Assert.Equal(WebSocketState.Open, widget.Socket.State);
        }
        else
        {
            await Assert.ThrowsAsync<WebSocketException>(() => connecting);
        }
    }

    [Fact]
    public async Task PlainHttpRequest_Is400()
    {
        await using var host = await ProxyTestHost.StartAsync();
        using var http = new HttpClient();

        using var response = await http.GetAsync(new Uri(host.BaseAddress, "/ces"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Expected a WebSocket request", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData(401)]
    [InlineData(403)]
    public async Task UpstreamRefuses_Is1011WithTheStatus(int refusal)
    {
        await using var host = await ProxyTestHost.StartAsync();
        host.Upstream.Mode = UpstreamMode.Refuse;
        host.Upstream.RefuseStatus = refusal;
        await using var widget = await host.ConnectAsync();

        await widget.SendConfigAsync(accessToken: "ya29.expired");
        var (_, status, reason) = await widget.ReceiveUntilCloseAsync();

        Assert.Equal(WebSocketCloseStatus.InternalServerError, status);
        Assert.Equal($"Upstream service unavailable (HTTP {refusal})", reason);
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task UpstreamUnreachable_Is1011()
    {
        // Nothing listens on port 1 of the loopback: the connection is refused at once.
        await using var host = await ProxyTestHost.StartAsync(new() { ["CesProxy:AppsEndpointTemplate"] = "ws://127.0.0.1:1/{location}" });
        await using var widget = await host.ConnectAsync();

        await widget.SendConfigAsync(accessToken: "ya29.x");
        var (_, status, reason) = await widget.ReceiveUntilCloseAsync();

        Assert.Equal((WebSocketCloseStatus.InternalServerError, "Upstream service unavailable"), (status, reason));
        var recorded = await host.Observer.ClosedConnectionAsync();
        Assert.Equal("upstream", recorded.Close!.Initiator);
        await host.AssertNoLeaksAsync();
    }
}
