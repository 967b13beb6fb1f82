using System.Text;
using System.Text.Json;

namespace Portal.Sessions.Search;

/// <summary>
/// The full-text index behind the admin's text search: an SQLite FTS5 table holding what people search for, the
/// sessions' titles and the text of their messages (user input, complete assistant messages, chat-ws queries and
/// answers, the widget's text, the final transcripts of what callers said), never token deltas or tool output. The
/// table is contentless (the text already lives in the events), and a row's rowid says where its text came from: the
/// session's key in the high 32 bits, the event's seq in the low 32 (0 for the title), so a session's rows are one
/// rowid range.
/// </summary>
internal static class SessionSearch
{
    public const string Table = "SessionSearch";

    /// <summary>
    /// Text stored under load for the index to take in bulk a moment later (see <see cref="SessionsOptions.SearchIndexDelay"/>):
    /// an ordinary table, appended to in order, its <c>Row</c> the index rowid the text will get.
    /// </summary>
    public const string Backlog = "SearchBacklog";

    /// <summary>Longest text indexed per event; a longer message is indexed by its beginning.</summary>
    public const int MaxIndexedChars = 16 * 1024;

    private const long SeqMask = 0xFFFF_FFFF;

    public static long RowId(long sessionKey, long seq) => (sessionKey << 32) | seq;

    public static long TitleRowId(long sessionKey) => RowId(sessionKey, 0);

    /// <summary>The first and last rowid a session's rows can have.</summary>
    public static (long First, long Last) Range(long sessionKey) => (RowId(sessionKey, 0), RowId(sessionKey, SeqMask));

    /// <summary>Seqs beyond 32 bits cannot be told apart in a rowid; such events are not indexed.</summary>
    public static bool CanIndex(long seq) => seq is > 0 and <= SeqMask;

    /// <summary>
    /// The searchable text of an event, or null when it has none. Decided by type first, so the common events
    /// (deltas, frames without text) cost a string comparison and nothing else; the others are parsed once.
    /// </summary>
    public static string? TextOf(string type, string direction, string payload)
    {
        var parts = type switch
        {
            EventTypes.UserInput when direction == EventDirections.In => TextParts.UserInput,
            EventTypes.ResponseItem when payload.Contains("\"assistant\"", StringComparison.Ordinal) => TextParts.AssistantMessage,
            "query" when direction == EventDirections.In => TextParts.Content,
            "response" when direction == EventDirections.Out => TextParts.Content,
            EventTypes.ProxyFrame => WidgetParts(payload),
            _ => TextParts.None,
        };
        if (parts == TextParts.None)
        {
            return null;
        }
        var text = Collect(payload, parts);
        return string.IsNullOrWhiteSpace(text) ? null : text.Length > MaxIndexedChars ? text[..MaxIndexedChars] : text;
    }

    /// <summary>
    /// Turns what a person typed into an FTS5 query: every word must occur (in any order), matched as a whole word
    /// unless it ends with <c>*</c> (then as a prefix). Quotes and FTS5 operators are taken literally, so no input
    /// can form a query the person did not mean. Null when nothing searchable is left.
    /// </summary>
    public static string? ToMatchQuery(string? input)
    {
        if (string.IsNullOrWhiteSpace(input))
        {
            return null;
        }
        var terms = new List<string>();
        foreach (var word in input.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var prefix = word.EndsWith('*');
            var core = word.TrimEnd('*');
            // unicode61 splits on anything that is not a letter or digit; only words with one are searchable.
            if (!core.Any(char.IsLetterOrDigit) || terms.Count >= 16)
            {
                continue;
            }
            terms.Add("\"" + core.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" + (prefix ? "*" : ""));
        }
        return terms.Count == 0 ? null : string.Join(' ', terms);
    }

    /// <summary>
    /// The widget's text both ways (realtimeInput.text in, sessionOutput.text out; audio never has a "text" key) and what
    /// CES recognised of the caller's speech: the final recognitionResult.transcript only, since the partial ones are
    /// earlier guesses at the same words.
    /// </summary>
    private static TextParts WidgetParts(string payload)
    {
        var parts = payload.Contains("\"text\"", StringComparison.Ordinal) ? TextParts.Text : TextParts.None;
        if (payload.Contains("\"transcript\"", StringComparison.Ordinal)
            && !payload.Contains("\"partial\":true", StringComparison.Ordinal) && !payload.Contains("\"partial\": true", StringComparison.Ordinal))
        {
            parts |= TextParts.Transcript;
        }
        return parts;
    }

    [Flags]
    private enum TextParts
    {
        None = 0,
        /// <summary>String values of "text" properties, anywhere.</summary>
        Text = 1,
        /// <summary>String values of "content" properties, anywhere.</summary>
        Content = 2,
        /// <summary>A user input's text: its "text" properties and its "input" or "content" when they are plain strings.</summary>
        UserInput = Text | Content | 4,
        /// <summary>The "text" properties of a response item that is a message with the role assistant.</summary>
        AssistantMessage = Text | 8,
        /// <summary>String values of "transcript" properties, anywhere.</summary>
        Transcript = 16,
    }

    private static string? Collect(string payload, TextParts parts)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            return null; // a payload stored as a preview, or not JSON: nothing to index
        }
        using (document)
        {
            try
            {
                var root = document.RootElement;
                if (parts.HasFlag(TextParts.AssistantMessage) && !(Is(root, "type", "message") && Is(root, "role", "assistant")))
                {
                    return null; // a function call or its output
                }
                var text = new StringBuilder();
                Walk(root, null, parts, text);
                return text.ToString();
            }
            catch (InvalidOperationException)
            {
                // A string escaping a lone surrogate ("\ud800") is JSON but not text: the event is stored, not indexed.
                // This runs inside the writer's transaction, which must never fail for a payload's sake.
                return null;
            }
        }
    }

    private static void Walk(JsonElement element, string? property, TextParts parts, StringBuilder text)
    {
        if (text.Length >= MaxIndexedChars)
        {
            return;
        }
        switch (element.ValueKind)
        {
            case JsonValueKind.String when Wanted(property, parts):
                if (text.Length > 0)
                {
                    text.Append('\n');
                }
                text.Append(element.GetString());
                break;
            case JsonValueKind.Object:
                foreach (var child in element.EnumerateObject())
                {
                    Walk(child.Value, child.Name, parts, text);
                }
                break;
            case JsonValueKind.Array:
                foreach (var child in element.EnumerateArray())
                {
                    Walk(child, null, parts, text);
                }
                break;
        }
    }

    private static bool Is(JsonElement root, string name, string value) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var property)
        && property.ValueKind == JsonValueKind.String && property.ValueEquals(value);

    private static bool Wanted(string? property, TextParts parts) => property switch
    {
        "text" => parts.HasFlag(TextParts.Text),
        "content" => parts.HasFlag(TextParts.Content),
        "input" => parts.HasFlag(TextParts.UserInput),
        "transcript" => parts.HasFlag(TextParts.Transcript),
        _ => false,
    };
}
