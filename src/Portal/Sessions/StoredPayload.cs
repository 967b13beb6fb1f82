using System.Text;
using System.Text.Json;

namespace Portal.Sessions;

/// <summary>Keeps stored payloads within a size: a bigger one becomes a preview that records the original size.</summary>
internal static class StoredPayload
{
    private const int PreviewChars = 2_048;

    public static string Limit(string payload, int maxBytes)
    {
        // UTF-8 needs at most 3 bytes per UTF-16 char, so short strings skip the count.
        if (payload.Length * 3 <= maxBytes || Encoding.UTF8.GetByteCount(payload) <= maxBytes)
        {
            return payload;
        }
        var preview = payload[..Math.Min(PreviewChars, payload.Length)];
        if (char.IsHighSurrogate(preview[^1]))
        {
            preview = preview[..^1];
        }
        return JsonSerializer.Serialize(new TruncatedPayload(true, Encoding.UTF8.GetByteCount(payload), preview), SessionJson.Options);
    }

    private sealed record TruncatedPayload(bool Truncated, int OriginalBytes, string Preview);
}
