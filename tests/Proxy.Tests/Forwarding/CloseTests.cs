using System.Net.WebSockets;
using System.Text.Json;
using Portal.Testing.Fakes;

namespace Proxy.Tests.Forwarding;

public sealed class CloseTests
{
    private static async Task<(ProxyTestHost Host, WidgetClient Widget, UpstreamConnection Upstream)> ConnectedAsync(
        UpstreamMode mode = UpstreamMode.Ces, Dictionary<string, string?>? settings = null)
    {
        var host = await ProxyTestHost.StartAsync(settings);
        host.Upstream.Mode = mode;
        var widget = await host.ConnectAsync();
        await widget.SendConfigAsync(accessToken: "ya29.x");
        var upstream = await host.Upstream.WaitForConnectionAsync();
        await upstream.Socket.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        return (host, widget, upstream);
    }

    [Theory]
    [InlineData(WebSocketCloseStatus.NormalClosure, "bye")]
    [InlineData((WebSocketCloseStatus)4001, "custom")]
    [InlineData(WebSocketCloseStatus.EndpointUnavailable, "navigating away")]
    public async Task ClientCloses_UpstreamIsClosedAtOnceWithTheSameCode(WebSocketCloseStatus status, string reason)
    {
        var (host, widget, upstream) = await ConnectedAsync();
        await using var _ = host;
        await using var __ = widget;

        var started = DateTime.UtcNow;
        await widget.Socket.CloseAsync(status, reason, CancellationToken.None);
        await upstream.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal((status, reason), (upstream.ClosedWith, upstream.ClosedReason));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2), "The upstream should hear the close at once.");
        Assert.Equal(WebSocketState.Closed, widget.Socket.State);
        Assert.Equal(status, widget.Socket.CloseStatus);
        await host.AssertNoLeaksAsync();
    }

    [Theory]
    [InlineData(WebSocketCloseStatus.NormalClosure, "done")]
    [InlineData(WebSocketCloseStatus.EndpointUnavailable, "going away")]
    public async Task UpstreamClosesNormally_ClientGetsTheSameCodeAtOnceAndNoErrorFrame(WebSocketCloseStatus status, string reason)
    {
        var (host, widget, _) = await ConnectedAsync(UpstreamMode.CloseAfterFirstMessage);
        await using var _h = host;
        await using var _w = widget;
        host.Upstream.CloseStatus = status;
        host.Upstream.CloseReason = reason;

        var started = DateTime.UtcNow;
        await widget.SendTextAsync("please close");
        var (before, closedWith, closedReason) = await widget.ReceiveUntilCloseAsync();

        Assert.Empty(before);
        Assert.Equal((status, reason), (closedWith, closedReason));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2));
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task UpstreamClosesWithAnError_ClientGetsConnectionClosedFrameThenNormalClose()
    {
        var (host, widget, _) = await ConnectedAsync(UpstreamMode.CloseAfterFirstMessage);
        await using var _h = host;
        await using var _w = widget;
        host.Upstream.CloseStatus = WebSocketCloseStatus.PolicyViolation;
        host.Upstream.CloseReason = "Permission denied on resource";

        await widget.SendTextAsync("hi");
        var (before, closedWith, _) = await widget.ReceiveUntilCloseAsync();

        var frame = JsonDocument.Parse(Assert.Single(before)).RootElement;
        Assert.Equal("ConnectionClosedError", frame.GetProperty("connection_closed").GetString());
        Assert.Equal("Permission denied on resource", frame.GetProperty("reason").GetString());
        Assert.Equal(1008, frame.GetProperty("code").GetInt32());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, closedWith);
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task UpstreamDiesMidStream_ClientHearsConnectionLostThenNormalClose()
    {
        var (host, widget, _) = await ConnectedAsync(UpstreamMode.DieAfterFirstMessage);
        await using var _h = host;
        await using var _w = widget;

        await widget.SendAudioChunkAsync();
        var (before, closedWith, _) = await widget.ReceiveUntilCloseAsync();

        var frame = JsonDocument.Parse(Assert.Single(before)).RootElement;
        Assert.Equal(1006, frame.GetProperty("code").GetInt32());
        Assert.Equal("Upstream connection lost", frame.GetProperty("reason").GetString());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, closedWith);
        var recorded = await host.Observer.ClosedConnectionAsync();
        Assert.Equal("upstream", recorded.Close!.Initiator);
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task ClientVanishesMidStream_UpstreamIsToldTheClientWentAway()
    {
        var (host, widget, upstream) = await ConnectedAsync();
        await using var _h = host;
        await widget.SendAudioChunkAsync();

        widget.Socket.Abort(); // no close frame: the TCP connection just goes
        await upstream.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, upstream.ClosedWith);
        Assert.Equal("Client disconnected", upstream.ClosedReason);
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task ClientSendsAnOversizedMessage_ClientGets1009()
    {
        var (host, widget, upstream) = await ConnectedAsync(settings: new() { ["CesProxy:MaxMessageBytes"] = "65536" });
        await using var _h = host;
        await using var _w = widget;

        await widget.SendJsonAsync(new { realtimeInput = new { text = new string('z', 70_000) } });
        var (_, closedWith, reason) = await widget.ReceiveUntilCloseAsync();

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, closedWith);
        Assert.Equal("Message too big", reason);
        await upstream.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Empty(upstream.Received);
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task UpstreamSendsAnOversizedMessage_ClientGets1009()
    {
        var (host, widget, upstream) = await ConnectedAsync(UpstreamMode.Echo, new() { ["CesProxy:MaxMessageBytes"] = "65536" });
        await using var _h = host;
        await using var _w = widget;
        var socket = await upstream.Socket.Task;

        await socket.SendAsync(new byte[70_000], WebSocketMessageType.Binary, true, CancellationToken.None);
        var (_, closedWith, _) = await widget.ReceiveUntilCloseAsync();

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, closedWith);
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task NoMessageEitherWay_IdleTimeoutClosesBothSidesWith1001()
    {
        var (host, widget, upstream) = await ConnectedAsync(settings: new() { ["CesProxy:IdleTimeout"] = "00:00:00.500" });
        await using var _h = host;
        await using var _w = widget;

        var (_, closedWith, reason) = await widget.ReceiveUntilCloseAsync();
        await upstream.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal((WebSocketCloseStatus.EndpointUnavailable, "Idle timeout"), (closedWith, reason));
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, upstream.ClosedWith);
        await host.AssertNoLeaksAsync();
    }
}
