using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Portal.Testing.Fakes;

namespace Proxy.Tests.Forwarding;

/// <summary>
/// An upstream that misbehaves below the WebSocket protocol (it never answers, trickles one byte a second, goes
/// silent, or resets mid-message): each case ends within its timeout, the widget is told in a way it understands (a
/// close code, or the reference's <c>connection_closed</c> frame then a normal close), the observer records the close,
/// and a second widget on a healthy upstream keeps streaming meanwhile. (Refused upgrades and an upstream that vanishes
/// between messages are in <see cref="FirstMessageTests"/> and <see cref="CloseTests"/>.)
/// </summary>
public sealed class UpstreamFaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<ProxyTestHost> StartAsync(MisbehavingUpstream faulty, string keepAlive = "00:00:01")
    {
        var host = await ProxyTestHost.StartAsync(new()
        {
            ["PS_ENDPOINT_TEMPLATE_FAULTY"] = faulty.Template,
            ["CesProxy:UpstreamConnectTimeout"] = "00:00:02",
            ["CesProxy:KeepAliveInterval"] = keepAlive,
            ["CesProxy:KeepAliveTimeout"] = "00:00:01",
            ["CesProxy:MessageTimeout"] = "00:00:03",
        });
        host.Upstream.Mode = UpstreamMode.Echo;
        return host;
    }

    [Theory]
    [InlineData(Misbehaviour.NeverAnswers)]
    [InlineData(Misbehaviour.TricklesTheHandshake)]
    public async Task UpstreamNeverCompletesTheUpgrade_WidgetGets1011AfterTheConnectTimeout_WhileAnotherKeepsStreaming(Misbehaviour mode)
    {
        await using var faulty = MisbehavingUpstream.Start(mode);
        await using var host = await StartAsync(faulty);
        await using var healthy = await ConnectedAsync(host);
        await using var widget = await host.ConnectAsync();

        var elapsed = Stopwatch.StartNew();
        await widget.SendConfigAsync(accessToken: "ya29.x", environment: "faulty");
        var closing = widget.ReceiveUntilCloseAsync(timeoutSeconds: 15);
        var (echoes, slowest) = await StreamUntilAsync(healthy, closing);
        var (before, status, reason) = await closing;

        Assert.Empty(before);
        Assert.Equal((WebSocketCloseStatus.InternalServerError, "Upstream service unavailable"), (status, reason));
        Assert.InRange(elapsed.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(8));
        var recorded = await host.Observer.ClosedConnectionAsync(index: 1);
        Assert.Equal(("upstream", "The upstream could not be reached."), (recorded.Close!.Initiator, recorded.Close.Detail));
        AssertKeptStreaming(echoes, slowest);
        await healthy.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
        await host.AssertNoLeaksAsync();
    }

    [Theory]
    [InlineData(Misbehaviour.SilentAfterUpgrade, "00:00:01", "Upstream connection lost")]
    [InlineData(Misbehaviour.TricklesAMessage, "00:00:30", "Upstream too slow")]
    [InlineData(Misbehaviour.ResetsMidMessage, "00:00:30", "Upstream connection lost")]
    public async Task UpstreamFailsAfterTheUpgrade_WidgetHearsWhyWithinTheTimeout_WhileAnotherKeepsStreaming(Misbehaviour mode, string keepAlive, string why)
    {
        await using var faulty = MisbehavingUpstream.Start(mode);
        await using var host = await StartAsync(faulty, keepAlive);
        await using var healthy = await ConnectedAsync(host);
        await using var widget = await host.ConnectAsync();

        var elapsed = Stopwatch.StartNew();
        await widget.SendConfigAsync(accessToken: "ya29.x", environment: "faulty");
        var closing = widget.ReceiveUntilCloseAsync(timeoutSeconds: 20);
        var (echoes, slowest) = await StreamUntilAsync(healthy, closing);
        var (before, status, reason) = await closing;

        // Whole messages only: a frame cut mid-way is never continued by the proxy's own frame.
        var messages = before.Select(m => JsonDocument.Parse(m).RootElement).ToList();
        if (mode == Misbehaviour.ResetsMidMessage)
        {
            Assert.Equal(MisbehavingUpstream.Message, before[0]);
            messages.RemoveAt(0);
        }
        if (messages.Count > 0)
        {
            var frame = Assert.Single(messages);
            Assert.Equal((why, 1006), (frame.GetProperty("reason").GetString(), frame.GetProperty("code").GetInt32()));
        }
        else
        {
            Assert.NotEqual(Misbehaviour.SilentAfterUpgrade, mode); // nothing was cut mid-message: the frame must come
        }
        Assert.Equal(WebSocketCloseStatus.NormalClosure, status);
        Assert.Equal($"Upstream closed (1006): {why}", reason);
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(mode == Misbehaviour.TricklesAMessage ? 12 : 8), $"Took {elapsed.Elapsed}.");
        var recorded = await host.Observer.ClosedConnectionAsync(index: 1);
        Assert.Equal("upstream", recorded.Close!.Initiator);
        AssertKeptStreaming(echoes, slowest);
        await healthy.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
        await host.AssertNoLeaksAsync();
    }

    private static async Task<WidgetClient> ConnectedAsync(ProxyTestHost host)
    {
        var widget = await host.ConnectAsync();
        await widget.SendConfigAsync(accessToken: "ya29.x");
        await host.Upstream.WaitForConnectionAsync();
        return widget;
    }

    /// <summary>
    /// A message every 50 ms through the healthy upstream (an echo), each answer awaited, until <paramref name="until"/>
    /// ends, and for at least two seconds (a fault that ends quickly is followed by healthy traffic all the same).
    /// </summary>
    private static async Task<(int Echoes, TimeSpan Slowest)> StreamUntilAsync(WidgetClient widget, Task until)
    {
        var echoes = 0;
        var slowest = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        while (!until.IsCompleted || clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            var roundTrip = Stopwatch.StartNew();
            await widget.SendTextAsync($"healthy {echoes}");
            var (type, data) = await widget.ReceiveAsync(timeoutSeconds: 10);
            Assert.Equal(WebSocketMessageType.Text, type);
            Assert.Contains($"healthy {echoes}", Encoding.UTF8.GetString(data), StringComparison.Ordinal);
            slowest = roundTrip.Elapsed > slowest ? roundTrip.Elapsed : slowest;
            echoes++;
            await Task.Delay(50, Ct);
        }
        return (echoes, slowest);
    }

    private static void AssertKeptStreaming(int echoes, TimeSpan slowest)
    {
        Assert.True(echoes >= 10, $"The healthy connection exchanged only {echoes} messages meanwhile.");
        Assert.True(slowest < TimeSpan.FromSeconds(2), $"The healthy connection's slowest round trip took {slowest}.");
    }
}
