using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Portal.Proxy.Telemetry;
using Portal.Testing.Fakes;

namespace Proxy.Tests.Forwarding;

public sealed class ForwardingTests
{
    [Fact]
    public async Task Config_WithTheClientsToken_GoesUpstreamWithoutTokenOrEnvironmentAndWithCesHeaders()
    {
        await using var host = await ProxyTestHost.StartAsync();
        await using var widget = await host.ConnectAsync();

        await widget.SendConfigAsync(accessToken: "ya29.client-token-123", environment: "prod");
        var upstream = await host.Upstream.WaitForConnectionAsync();
        await widget.SendTextAsync("hi!");
        await widget.ReceiveJsonAsync();

        Assert.Equal("Bearer ya29.client-token-123", upstream.Headers.Authorization.ToString());
        Assert.Equal("application/json", upstream.Headers.ContentType.ToString());
        Assert.Equal("test-project", upstream.Headers["X-Goog-User-Project"].ToString());
        Assert.Equal(FakeCesUpstream.BidiPath + "us", upstream.Path);
        using var forwarded = JsonDocument.Parse(upstream.FirstFrame!);
        var config = forwarded.RootElement.GetProperty("config");
        Assert.False(config.TryGetProperty("accessToken", out _));
        Assert.False(config.TryGetProperty("environment", out _));
        Assert.Equal(WidgetClient.AppSession, config.GetProperty("session").GetString());
        Assert.Equal(16000, config.GetProperty("inputAudioConfig").GetProperty("sampleRateHertz").GetInt32());
        Assert.Equal(0, host.OAuth.Requests);
    }

    [Fact]
    public async Task Config_ProjectIdSet_BillsThatProject()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["PROJECT_ID"] = "billing-project" });
        await using var widget = await host.ConnectAsync();

        await widget.SendConfigAsync(accessToken: "ya29.x");
        var upstream = await host.Upstream.WaitForConnectionAsync();

        Assert.Equal("billing-project", upstream.Headers["X-Goog-User-Project"].ToString());
    }

    [Fact]
    public async Task Config_PlaybooksConfigMessage_UsesTheAgentsTemplate()
    {
        await using var host = await ProxyTestHost.StartAsync();
        await using var widget = await host.ConnectAsync();

        await widget.SendConfigAsync(WidgetClient.AgentSession, accessToken: "ya29.x", wrapper: "configMessage");
        var upstream = await host.Upstream.WaitForConnectionAsync();
        await Task.Delay(100, TestContext.Current.CancellationToken);

        Assert.Equal("/pbl/global", upstream.Path);
        Assert.StartsWith("{\"configMessage\":", upstream.FirstFrame, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_EnvironmentWithItsOwnTemplate_UsesThatTemplate()
    {
        await using var upstreamForStaging = await FakeCesUpstream.StartAsync();
        await using var host = await ProxyTestHost.StartAsync(new() { ["PS_ENDPOINT_TEMPLATE_STAGING"] = upstreamForStaging.AppsTemplate });
        await using var widget = await host.ConnectAsync();

        await widget.SendConfigAsync(accessToken: "ya29.x", environment: "staging");
        var upstream = await upstreamForStaging.WaitForConnectionAsync();

        Assert.Equal(FakeCesUpstream.BidiPath + "us", upstream.Path);
        Assert.Empty(host.Upstream.Connections);
    }

    [Fact]
    public async Task Conversation_LikeTheWidget_FramesPassBothWaysUnchangedInKind()
    {
        await using var host = await ProxyTestHost.StartAsync();
        await using var widget = await host.ConnectAsync();
        await widget.SendConfigAsync(accessToken: "ya29.x");
        var upstream = await host.Upstream.WaitForConnectionAsync();

        await widget.SendTextAsync("hi!");
        var answers = new List<(WebSocketMessageType Type, string Json)>();
        for (var i = 0; i < 5; i++)
        {
            var (type, data) = await widget.ReceiveAsync();
            answers.Add((type, Encoding.UTF8.GetString(data)));
        }
        for (var chunk = 0; chunk < 8; chunk++)
        {
            await widget.SendAudioChunkAsync((byte)chunk);
            await Task.Delay(128, TestContext.Current.CancellationToken); // real time: 128 ms of 16 kHz PCM16 is 4096 bytes
        }
        await widget.ReceiveJsonAsync(); // a partial recognitionResult for the audio

        Assert.Equal(WebSocketMessageType.Text, answers[0].Type);
        Assert.Contains("recognitionResult", answers[0].Json, StringComparison.Ordinal);
        Assert.Equal(WebSocketMessageType.Text, answers[1].Type);
        Assert.Contains("Hello from CES", answers[1].Json, StringComparison.Ordinal);
        Assert.Equal(WebSocketMessageType.Binary, answers[2].Type);
        Assert.Contains("\"audio\"", answers[2].Json, StringComparison.Ordinal);
        Assert.Equal(WebSocketMessageType.Binary, answers[3].Type);
        Assert.Contains("turnCompleted", answers[4].Json, StringComparison.Ordinal);
        var received = upstream.Received.ToList();
        Assert.Equal(9, received.Count);
        Assert.Equal("""{"realtimeInput":{"text":"hi!"}}""", Encoding.UTF8.GetString(received[0].Data));
        Assert.All(received, r => Assert.Equal(WebSocketMessageType.Text, r.Type));
        using var audio = JsonDocument.Parse(received[5].Data);
        var pcm = Convert.FromBase64String(audio.RootElement.GetProperty("realtimeInput").GetProperty("audio").GetString()!);
        Assert.Equal(4096, pcm.Length);
        Assert.All(pcm, b => Assert.Equal(4, b));
    }

    [Fact]
    public async Task BinaryAndFragmentedMessages_ArriveWholeAndOfTheSameType()
    {
        await using var host = await ProxyTestHost.StartAsync();
        host.Upstream.Mode = UpstreamMode.Echo;
        await using var widget = await host.ConnectAsync();
        await widget.SendConfigAsync(accessToken: "ya29.x");
        await host.Upstream.WaitForConnectionAsync();

        var binary = new byte[100_000];
        Random.Shared.NextBytes(binary);
        await widget.SendRawAsync(binary, WebSocketMessageType.Binary);
        var echoedBinary = await widget.ReceiveAsync();
        var part1 = "{\"realtimeInput\":{\"text\":\""u8.ToArray();
        var part2 = Encoding.UTF8.GetBytes(new string('x', 40_000));
        var part3 = "\"}}"u8.ToArray();
        await widget.Socket.SendAsync(part1, WebSocketMessageType.Text, false, CancellationToken.None);
        await widget.Socket.SendAsync(part2, WebSocketMessageType.Text, false, CancellationToken.None);
        await widget.Socket.SendAsync(part3, WebSocketMessageType.Text, true, CancellationToken.None);
        var echoedText = await widget.ReceiveAsync();
        await widget.Socket.SendAsync(Array.Empty<byte>(), WebSocketMessageType.Binary, true, CancellationToken.None);
        var echoedEmpty = await widget.ReceiveAsync();

        Assert.Equal(WebSocketMessageType.Binary, echoedBinary.Type);
        Assert.Equal(binary, echoedBinary.Data);
        Assert.Equal(WebSocketMessageType.Text, echoedText.Type);
        Assert.Equal([.. part1, .. part2, .. part3], echoedText.Data);
        Assert.Equal((WebSocketMessageType.Binary, 0), (echoedEmpty.Type, echoedEmpty.Data.Length));
    }

    [Fact]
    public async Task StrippedKeys_AreRemovedFromUpstreamJsonAtAnyDepth_OtherFramesUntouched()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["STRIPPED_KEYS"] = "diagnosticInfo;rootSpan.attributes" });
        host.Upstream.Mode = UpstreamMode.Echo;
        await using var widget = await host.ConnectAsync();
        await widget.SendConfigAsync(accessToken: "ya29.x");
        await host.Upstream.WaitForConnectionAsync();

        await widget.SendJsonAsync(new
        {
            sessionOutput = new { text = "hi", diagnosticInfo = new { secret = 1 } },
            rootSpan = new { name = "turn", attributes = new { prompt = "internal" } },
        });
        var stripped = await widget.ReceiveJsonAsync();
        await widget.SendRawAsync(JsonSerializer.SerializeToUtf8Bytes(new { diagnosticInfo = 1, keep = 2 }), WebSocketMessageType.Binary);
        var strippedBinary = await widget.ReceiveAsync();
        var notJson = "diagnosticInfo: raw bytes"u8.ToArray();
        await widget.SendRawAsync(notJson, WebSocketMessageType.Binary);
        var untouched = await widget.ReceiveAsync();

        Assert.Equal("""{"sessionOutput":{"text":"hi"},"rootSpan":{"name":"turn"}}""", stripped.GetRawText());
        Assert.Equal((WebSocketMessageType.Binary, """{"keep":2}"""), (strippedBinary.Type, Encoding.UTF8.GetString(strippedBinary.Data)));
        Assert.Equal(notJson, untouched.Data);
    }

    [Fact]
    public async Task Observer_SeesConfigTimingTextFramesAndCountsAudio()
    {
        await using var host = await ProxyTestHost.StartAsync();
        await using var widget = await host.ConnectAsync();
        await widget.SendConfigAsync(accessToken: "ya29.secret-client-token", environment: "prod");
        await widget.SendTextAsync("hi!");
        for (var i = 0; i < 5; i++)
        {
            await widget.ReceiveAsync();
        }
        await widget.SendAudioChunkAsync();
        await widget.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);

        var recorded = await host.Observer.ClosedConnectionAsync();

        Assert.Equal("https://shop.example.com", recorded.Info.Origin);
        Assert.DoesNotContain("secret-client-token", recorded.ForwardedConfig, StringComparison.Ordinal);
        Assert.True(recorded.Config!.ClientToken);
        Assert.Equal("prod", recorded.Config.Environment);
        Assert.NotNull(recorded.ConnectTime);
        Assert.NotNull(recorded.FirstUpstreamByte);
        var frames = recorded.Frames.ToList();
        Assert.Contains(frames, f => f is { Direction: FrameDirection.ClientToUpstream, Kind: FrameKind.Text } && f.Recorded == """{"realtimeInput":{"text":"hi!"}}""");
        Assert.Contains(frames, f => f is { Direction: FrameDirection.ClientToUpstream, Kind: FrameKind.Audio } && f.Recorded == "" && f.Size > 5_000);
        Assert.Contains(frames, f => f is { Direction: FrameDirection.UpstreamToClient, Kind: FrameKind.Audio, Type: WebSocketMessageType.Binary });
        Assert.Contains(frames, f => f is { Direction: FrameDirection.UpstreamToClient, Kind: FrameKind.Text } && f.Recorded.Contains("Hello from CES", StringComparison.Ordinal));
        Assert.Equal((1000, "bye", "client"), (recorded.Close!.ClientCloseStatus, recorded.Close.ClientCloseReason, recorded.Close.Initiator));
    }

    [Fact]
    public async Task Observer_LongTextFrame_GetsOnlyTheConfiguredPrefixAndTheFullSize()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["CesProxy:RecordedPayloadBytes"] = "1024" });
        host.Upstream.Mode = UpstreamMode.Echo;
        await using var widget = await host.ConnectAsync();
        await widget.SendConfigAsync(accessToken: "ya29.x");
        await host.Upstream.WaitForConnectionAsync();

        await widget.SendJsonAsync(new { realtimeInput = new { text = new string('y', 50_000) } });
        await widget.ReceiveAsync();
        await widget.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        var recorded = await host.Observer.ClosedConnectionAsync();

        var frame = recorded.Frames.First(f => f.Direction == FrameDirection.ClientToUpstream);
        Assert.Equal(1024, frame.Recorded.Length);
        Assert.Equal(50_000 + """{"realtimeInput":{"text":""}}""".Length, frame.Size);
    }
}
