using System.Net.WebSockets;

namespace Portal.Endpoints.Sockets;

/// <summary>The end of a close handshake both socket endpoints share.</summary>
internal static class SocketClosing
{
    /// <summary>How long a close we sent waits for the client's.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    /// <summary>
    /// After a close was sent, reads and drops what the client still sends until its close arrives, at most
    /// <see cref="Grace"/>: closing the connection with unread data would reset it, and the client could lose the close
    /// frame (1009 after an oversized message, 1013, ...).
    /// </summary>
    public static async Task DrainUntilClosedAsync(WebSocket socket)
    {
        if (socket.State != WebSocketState.CloseSent)
        {
            return;
        }
        using var timeout = new CancellationTokenSource(Grace);
        var buffer = new byte[4096];
        try
        {
            while (socket.State == WebSocketState.CloseSent)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(), timeout.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
    }
}
