using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Proxy.Tests.Forwarding;

public sealed class ListenerTests
{
    [Fact]
    public async Task WebSocketServerPort_AnswersTheWidgetAtSlash_AsTheReferenceProxy()
    {
        var port = FreePort();
        await using var host = await ProxyTestHost.StartAsync(new()
        {
            ["WEBSOCKET_SERVER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["CesProxy:WebSocketServerHost"] = "127.0.0.1",
        });

        await using var widget = await Portal.Testing.Fakes.WidgetClient.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/"), cancellationToken: TestContext.Current.CancellationToken);
        await widget.SendConfigAsync(accessToken: "ya29.x");
        await widget.SendTextAsync("hi!");
        var answer = await widget.ReceiveJsonAsync();
        using var http = new HttpClient();
        using var other = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/ces"), TestContext.Current.CancellationToken);

        Assert.True(answer.TryGetProperty("recognitionResult", out _));
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.Equal(WebSocketState.Open, widget.Socket.State);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
