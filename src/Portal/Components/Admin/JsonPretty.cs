using System.Text.Encodings.Web;
using System.Text.Json;

namespace Portal.Components.Admin;

/// <summary>What a piece of pretty-printed JSON is, for colouring.</summary>
public enum JsonPart { Punctuation, Key, StringValue, Number, Literal, Text }

/// <summary>A run of text of one <see cref="JsonPart"/>.</summary>
public readonly record struct JsonSegment(JsonPart Part, string Text);

/// <summary>
/// Pretty-prints a stored payload as segments to colour. Payloads are untrusted: the segments are plain text that the
/// viewer renders as text (escaped by Razor), never as markup. A payload that is not JSON comes back as one text
/// segment; a very large one is cut at <see cref="MaxChars"/>.
/// </summary>
public static class JsonPretty
{
    public const int MaxChars = 200_000;
    private const int MaxDepth = 64;
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static IReadOnlyList<JsonSegment> Format(string payload, out bool cut)
    {
        cut = false;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException)
        {
            cut = payload.Length > MaxChars;
            return [new JsonSegment(JsonPart.Text, cut ? payload[..MaxChars] : payload)];
        }
        using (document)
        {
            var writer = new SegmentWriter();
            writer.Value(document.RootElement, 0);
            cut = writer.Cut;
            return writer.Segments;
        }
    }

    private sealed class SegmentWriter
    {
        private int _chars;

        public List<JsonSegment> Segments { get; } = [];
        public bool Cut { get; private set; }

        public void Value(JsonElement element, int depth)
        {
            if (Cut)
            {
                return;
            }
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    Container(depth, "{", "}", element.EnumerateObject().Select(p => (Name: (string?)p.Name, p.Value)).ToList());
                    break;
                case JsonValueKind.Array:
                    Container(depth, "[", "]", element.EnumerateArray().Select(v => (Name: (string?)null, Value: v)).ToList());
                    break;
                case JsonValueKind.String:
                    Add(JsonPart.StringValue, Quote(element.GetString()!));
                    break;
                case JsonValueKind.Number:
                    Add(JsonPart.Number, element.GetRawText());
                    break;
                default:
                    Add(JsonPart.Literal, element.GetRawText());
                    break;
            }
        }

        private void Container(int depth, string open, string close, List<(string? Name, JsonElement Value)> items)
        {
            if (items.Count == 0)
            {
                Add(JsonPart.Punctuation, open + close);
                return;
            }
            Add(JsonPart.Punctuation, open + "\n");
            var indent = new string(' ', (depth + 1) * 2);
            for (var i = 0; i < items.Count && !Cut; i++)
            {
                Add(JsonPart.Punctuation, indent);
                if (items[i].Name is { } name)
                {
                    Add(JsonPart.Key, Quote(name));
                    Add(JsonPart.Punctuation, ": ");
                }
                Value(items[i].Value, depth + 1);
                Add(JsonPart.Punctuation, i < items.Count - 1 ? ",\n" : "\n");
            }
            Add(JsonPart.Punctuation, new string(' ', depth * 2) + close);
        }

        private void Add(JsonPart part, string text)
        {
            if (Cut)
            {
                return;
            }
            if (_chars + text.Length > MaxChars)
            {
                text = text[..Math.Max(0, MaxChars - _chars)];
                Cut = true;
            }
            _chars += text.Length;
            // Neighbouring punctuation is one segment: fewer elements to render.
            if (part == JsonPart.Punctuation && Segments.Count > 0 && Segments[^1].Part == JsonPart.Punctuation)
            {
                Segments[^1] = Segments[^1] with { Text = Segments[^1].Text + text };
                return;
            }
            Segments.Add(new JsonSegment(part, text));
        }

        private static string Quote(string value) => JsonSerializer.Serialize(value, Relaxed);
    }
}
