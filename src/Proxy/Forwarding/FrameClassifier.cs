using System.Net.WebSockets;
using Portal.Proxy.Telemetry;

namespace Portal.Proxy.Forwarding;

/// <summary>Tells audio from other frames by a look at the first bytes, without parsing.</summary>
internal static class FrameClassifier
{
    /// <summary>How many first bytes are looked at.</summary>
    public const int HeadBytes = 512;

    private static readonly byte[] AudioKey = "\"audio\""u8.ToArray();

    public static FrameKind Classify(WebSocketMessageType type, ReadOnlySpan<byte> head)
    {
        // realtimeInput.audio from the widget, sessionOutput.audio from CES: the key comes early in both.
        var window = head[..Math.Min(head.Length, HeadBytes)];
        if (window.IndexOf(AudioKey) >= 0)
        {
            return FrameKind.Audio;
        }
        return type == WebSocketMessageType.Text ? FrameKind.Text : FrameKind.Binary;
    }
}
