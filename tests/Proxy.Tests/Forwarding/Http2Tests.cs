using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Portal.Testing.Fakes;

namespace Proxy.Tests.Forwarding;

/// <summary>
/// A widget may reach the proxy over HTTP/2 (RFC 8441's extended CONNECT, as Chromium does when the server offers it):
/// the proxy accepts it there too and relays the same frames.
/// </summary>
public sealed class Http2Tests
{
    [Fact]
    public async Task WidgetOverHttp2_IsProxiedLikeOverHttp1()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["Kestrel:EndpointDefaults:Protocols"] = "Http2" });
        host.Upstream.Mode = UpstreamMode.Echo;
        using var handler = new SocketsHttpHandler();
        using var invoker = new HttpMessageInvoker(handler);
        using var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        socket.Options.SetRequestHeader("Origin", "https://shop.example.com");
        socket.Options.CollectHttpResponseDetails = true;
        var ct = TestContext.Current.CancellationToken;

        await socket.ConnectAsync(host.WebSocketUri, invoker, ct);
        await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(WidgetClient.Config(accessToken: "ya29.x")), WebSocketMessageType.Text, true, ct);
        await host.Upstream.WaitForConnectionAsync();
        var binary = new byte[50_000];
        Random.Shared.NextBytes(binary);
        await socket.SendAsync(binary, WebSocketMessageType.Binary, true, ct);
        var buffer = new byte[100_000];
        var length = 0;
        ValueWebSocketReceiveResult received;
        do
        {
            received = await socket.ReceiveAsync(buffer.AsMemory(length), ct);
            length += received.Count;
        }
        while (!received.EndOfMessage);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", ct);

        Assert.Equal(HttpStatusCode.OK, socket.HttpStatusCode); // HTTP/2's answer to the CONNECT, where HTTP/1.1 says 101
        Assert.Equal(WebSocketMessageType.Binary, received.MessageType);
        Assert.Equal(binary, buffer[..length]);
        Assert.Equal((WebSocketCloseStatus.NormalClosure, "bye"), (socket.CloseStatus, socket.CloseStatusDescription));
    }
}
