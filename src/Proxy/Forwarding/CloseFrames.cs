using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Portal.Proxy.Forwarding;

/// <summary>Close codes and the proxy's own frames, as the widget understands them.</summary>
internal static class CloseFrames
{
    public const string UpstreamUnavailable = "Upstream service unavailable";
    public const string MessageTooBig = "Message too big";
    public const string IdleTimeout = "Idle timeout";
    public const string ShuttingDown = "Server shutting down";
    public const string ClientDisconnected = "Client disconnected";
    public const string UpstreamLost = "Upstream connection lost";
    public const string UpstreamTooSlow = "Upstream too slow";
    public const string ClientTooSlow = "Message too slow";
    /// <summary>The widget turns a reason containing "authentication" into an authentication error.</summary>
    public const string AuthenticationFailed = "Proxy authentication failed: no access token could be obtained";

    /// <summary>
    /// What the reference proxy sends when the upstream closes with an error: the widget reads <c>reason</c> (and
    /// signs out when it mentions permission, authentication or denied).
    /// </summary>
    public static byte[] ConnectionClosed(string reason, int code) => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
    {
        ["connection_closed"] = "ConnectionClosedError",
        ["reason"] = reason,
        ["code"] = code,
    });

    /// <summary>Upstream closes with these are normal: they are passed on as they are.</summary>
    public static bool IsNormal(WebSocketCloseStatus? status) =>
        status is WebSocketCloseStatus.NormalClosure or WebSocketCloseStatus.EndpointUnavailable;

    /// <summary>Close reasons are at most 123 bytes of UTF-8.</summary>
    public static string? Reason(string? reason)
    {
        if (reason is null || Encoding.UTF8.GetByteCount(reason) <= 123)
        {
            return reason;
        }
        var cut = reason;
        while (Encoding.UTF8.GetByteCount(cut) > 120)
        {
            cut = cut[..^1];
        }
        return cut.TrimEnd() + "...";
    }

    /// <summary>Codes a peer may not send in a close frame (1005, 1006, 1015) become what they mean.</summary>
    public static WebSocketCloseStatus Sendable(WebSocketCloseStatus? status) => status switch
    {
        null or WebSocketCloseStatus.Empty => WebSocketCloseStatus.Empty,
        (WebSocketCloseStatus)1006 or (WebSocketCloseStatus)1015 => WebSocketCloseStatus.InternalServerError,
        _ => status.Value,
    };
}
