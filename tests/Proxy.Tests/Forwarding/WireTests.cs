using System.Net.WebSockets;
using System.Text;

namespace Proxy.Tests.Forwarding;

/// <summary>
/// The proxy relays frames as bytes: what it passes on as it came, what it checks, and what it answers itself, seen
/// frame by frame from a raw widget.
/// </summary>
public sealed class WireTests
{
    [Theory]
    [InlineData("unmasked", "Frames from a client must be masked")]
    [InlineData("reserved bits", "Reserved bits set without an extension")]
    [InlineData("unknown opcode", "Unknown opcode")]
    [InlineData("continuation first", "Continuation frame without a message")]
    [InlineData("bad close code", "Invalid close frame")]
    public async Task BrokenFrameAfterTheConfig_Is1002WithTheReason_AndTheUpstreamIsClosed(string broken, string reason)
    {
        await using var wired = await ConnectedAsync();
        var (host, widget, upstream) = wired;

        var hello = Encoding.UTF8.GetBytes("{\"realtimeInput\":{\"text\":\"hi\"}}");
        await widget.SendAsync(broken switch
        {
            "unmasked" => RawWidget.Frame(0x81, hello, mask: false),
            "reserved bits" => RawWidget.Frame(0xC1, hello),
            "unknown opcode" => RawWidget.Frame(0x83, hello),
            "continuation first" => RawWidget.Frame(0x80, hello),
            _ => RawWidget.Close(1005),
        });

        Assert.Equal((1002, reason), await widget.ReceiveCloseAsync());
        await upstream.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal((WebSocketCloseStatus.EndpointUnavailable, "Client protocol error"), (upstream.ClosedWith, upstream.ClosedReason));
        var recorded = await host.Observer.ClosedConnectionAsync();
        Assert.Equal((1002, "proxy"), (recorded.Close!.ClientCloseStatus, recorded.Close.Initiator));
        await host.AssertNoLeaksAsync();
    }

    [Theory]
    [InlineData(0xC1, "Reserved bits set without an extension")]
    [InlineData(0x83, "Unknown opcode")]
    public async Task BrokenFirstFrame_Is1002WithTheReason_NotAReset(byte first, string reason)
    {
        await using var host = await ProxyTestHost.StartAsync();
        await using var widget = await RawWidget.ConnectAsync(host.WebSocketUri);

        // Nothing after a broken header can be framed: the proxy must still let its close reach the widget.
        await widget.SendAsync(RawWidget.Frame(first, Encoding.UTF8.GetBytes("{\"config\":{}}")));
        await widget.SendAsync(RawWidget.Text("{\"realtimeInput\":{\"text\":\"still sending\"}}"));

        Assert.Equal((1002, reason), await widget.ReceiveCloseAsync());
        Assert.Empty(host.Upstream.Connections);
    }

    [Fact]
    public async Task FrameTrickledByteByByte_ReachesTheUpstreamWhole()
    {
        await using var wired = await ConnectedAsync();
        var (host, widget, upstream) = wired;

        var text = "{\"realtimeInput\":{\"text\":\"" + new string('t', 150) + "\"}}";
        await widget.TrickleAsync(RawWidget.Text(text), TimeSpan.FromMilliseconds(2));

        // The proxy sent it on in pieces as it came; the upstream's WebSocket put them together.
        var (fin, opcode, echoed) = await widget.ReceiveFrameAsync();
        Assert.Equal((true, 0x1, text), (fin, opcode, Encoding.UTF8.GetString(echoed)));
        Assert.Contains(upstream.Received, m => m.Type == WebSocketMessageType.Text && Encoding.UTF8.GetString(m.Data) == text);
        var close = RawWidget.Close(1000, "done");
        await widget.SendAsync(close);
        Assert.Equal((1000, "done"), await widget.ReceiveCloseAsync());
        var recorded = await host.Observer.ClosedConnectionAsync();
        Assert.Contains(recorded.Frames, f => f.Recorded == text && f.Size == text.Length);
    }

    [Fact]
    public async Task WidgetPing_IsAnsweredByTheUpstream_ThroughTheProxy()
    {
        await using var wired = await ConnectedAsync();
        var (host, widget, upstream) = wired;

        await widget.SendAsync(RawWidget.Frame(0x89, "are you there"u8.ToArray()));

        var (fin, opcode, payload) = await widget.ReceiveFrameAsync();
        Assert.Equal((true, 0xA, "are you there"), (fin, opcode, Encoding.UTF8.GetString(payload)));
    }

    [Fact]
    public async Task SilentWidget_IsPingedAtTheKeepAliveInterval_AndAnsweringKeepsItOpen()
    {
        await using var wired = await ConnectedAsync(keepAliveTimeout: "00:00:02");
        var (host, widget, upstream) = wired;

        for (var i = 0; i < 3; i++)
        {
            var (_, opcode, payload) = await widget.ReceiveFrameAsync(timeoutSeconds: 5);
            Assert.Equal((0x9, "portal-keepalive"), (opcode, Encoding.UTF8.GetString(payload)));
            await widget.SendAsync(RawWidget.Frame(0x8A, payload));
        }
        await widget.SendAsync(RawWidget.Text("{\"realtimeInput\":{\"text\":\"still here\"}}"));
        var (_, echoOpcode, echo) = await widget.ReceiveFrameAsync();
        Assert.Equal((0x1, "{\"realtimeInput\":{\"text\":\"still here\"}}"), (echoOpcode, Encoding.UTF8.GetString(echo)));
    }

    [Fact]
    public async Task WidgetThatAnswersNoPing_IsCutAfterTheKeepAliveTimeout_AndTheUpstreamToldItWentAway()
    {
        await using var wired = await ConnectedAsync(keepAliveTimeout: "00:00:01");
        var (host, widget, upstream) = wired;

        await upstream.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal((WebSocketCloseStatus.EndpointUnavailable, "Client disconnected"), (upstream.ClosedWith, upstream.ClosedReason));
        var recorded = await host.Observer.ClosedConnectionAsync();
        Assert.Equal(("client", "The client vanished without closing."), (recorded.Close!.Initiator, recorded.Close.Detail));
    }

    /// <summary>A proxy before an echo upstream, a raw widget that sent its config, and the upstream's side of it.</summary>
    private static async Task<Wired> ConnectedAsync(string? keepAliveTimeout = null)
    {
        var host = await ProxyTestHost.StartAsync(keepAliveTimeout is null ? null : new()
        {
            ["CesProxy:KeepAliveInterval"] = "00:00:00.500",
            ["CesProxy:KeepAliveTimeout"] = keepAliveTimeout,
        });
        host.Upstream.Mode = Portal.Testing.Fakes.UpstreamMode.Echo;
        var widget = await RawWidget.ConnectAsync(host.WebSocketUri);
        await widget.SendAsync(RawWidget.ConfigFrame());
        return new Wired(host, widget, await host.Upstream.WaitForConnectionAsync());
    }

    private sealed record Wired(ProxyTestHost Host, RawWidget Widget, Portal.Testing.Fakes.UpstreamConnection Upstream) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Widget.DisposeAsync();
            await Host.DisposeAsync();
        }
    }
}
