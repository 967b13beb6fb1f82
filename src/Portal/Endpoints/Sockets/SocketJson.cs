using System.Text.Json;

namespace Portal.Endpoints.Sockets;

/// <summary>Reads a client's JSON frame strictly enough that everything Portal does with it afterwards cannot throw.</summary>
internal static class SocketJson
{
    /// <summary>
    /// Parses a frame. JSON's grammar allows an escape of half a UTF-16 surrogate pair (<c>"\ud800"</c>), which is not
    /// text: reading such a string or property name throws wherever it happens (a lookup of another property included),
    /// and storing it verbatim would make the session's log unreadable. It also allows a name twice in an object, on
    /// which JsonNode throws. Such frames are refused as invalid JSON.
    /// </summary>
    /// <exception cref="JsonException">
    /// The frame is not valid JSON, nests deeper than <paramref name="maxDepth"/>, repeats a name, or escapes a lone surrogate.
    /// </exception>
    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8, int maxDepth)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = maxDepth, AllowDuplicateProperties = false });
        }
        catch (InvalidOperationException)
        {
            throw LoneSurrogate(); // comparing names for duplicates reads them
        }
        if (utf8.Span.IndexOf("\\u"u8) >= 0 && !EscapesAreText(utf8.Span, maxDepth))
        {
            document.Dispose();
            throw LoneSurrogate();
        }
        return document;
    }

    private static JsonException LoneSurrogate() =>
        new("A string escapes half of a UTF-16 surrogate pair (\\ud800 to \\udfff on its own), which is not text.");

    private static bool EscapesAreText(ReadOnlySpan<byte> utf8, int maxDepth)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = maxDepth });
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped)
            {
                try
                {
                    reader.GetString();
                }
                catch (InvalidOperationException)
                {
                    return false;
                }
            }
        }
        return true;
    }
}
