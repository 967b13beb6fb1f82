using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Portal.IntegrationTests.Faults.Fuzzing;

/// <summary>A message to send or one received: its WebSocket type and bytes.</summary>
internal readonly record struct FuzzFrame(WebSocketMessageType Type, byte[] Data)
{
    public static FuzzFrame Text(string text) => new(WebSocketMessageType.Text, Encoding.UTF8.GetBytes(text));

    public string AsText() => Encoding.UTF8.GetString(Data);
}

/// <summary>
/// Makes hostile frames from a protocol's valid ones: random bytes (text and binary), valid frames with a field set to
/// a value of another type, a huge or odd number, a long string or deep nesting; frames cut short (inside a multi-byte
/// character too), with invalid UTF-8, doubled or spliced; JSON nested past any parser's limit; and now and then a frame
/// larger than the endpoints accept. Deterministic for a given <see cref="Random"/>.
/// </summary>
internal static class FrameFuzzer
{
    /// <summary>Over the 1 MiB message limit of /ws/agent and /ws/chat (and of /ces, as the fuzz tests configure it).</summary>
    public const int OversizeBytes = 1_100_000;

    private static readonly string[] OddNumbers =
        ["1e400", "-1e400", "-0", "0.0000000000000000000000001", "18446744073709551616", "-9223372036854775809",
         "99999999999999999999999999999999999999", "1E+2147483648", "123456789012345678901234567890.5", "NaN", "Infinity", "0x1F"];

    private static readonly string[] OddStrings =
        ["", " ", "\u0000", "\uFEFF", "\uD800", "null", "{}", "../../etc/passwd", "<script>alert(1)</script>", "' OR 1=1 --",
         "\u202Egnp.exe", "%00", "${jndi:ldap://x}", "\r\n\r\n", "\\u0000"];

    public static FuzzFrame Next(Random random, IReadOnlyList<string> validFrames)
    {
        // Invalid UTF-8 in a text message ends the connection at the WebSocket layer (1007), before Portal sees it: such
        // frames are kept to about one in fifty, so most frames reach the protocol's own parsing.
        var roll = random.NextDouble();
        return roll switch
        {
            < 0.003 => Oversize(random),
            < 0.06 => RandomBytes(random),
            < 0.11 => RandomText(random),
            < 0.12 => BrokenUtf8(random, Pick(random, validFrames)),
            < 0.22 => DeepNesting(random),
            < 0.27 => FuzzFrame.Text(Pick(random, OddTopLevel)),
            < 0.37 => FuzzFrame.Text(Pick(random, validFrames)),
            < 0.45 => Truncated(random, Pick(random, validFrames)),
            < 0.50 => Spliced(random, Pick(random, validFrames), Pick(random, validFrames)),
            < 0.55 => new FuzzFrame(WebSocketMessageType.Binary, Encoding.UTF8.GetBytes(Pick(random, validFrames))),
            _ => FuzzFrame.Text(MutateField(random, Pick(random, validFrames))),
        };
    }

    private static readonly string[] OddTopLevel =
        ["", "null", "true", "0", "-1", "\"type\"", "[]", "{}", "[{\"type\":\"cancel\"}]", "{\"type\":null}", "{\"type\":1e400}",
         "{\"type\":[]}", "{\"type\":{}}", "{\"type\":\"\"}", "{\"type\":\"x\",\"type\":\"y\"}", "{\"payload\":{}}", " \t\r\n ", "\uFEFF{}",
         "{\"type\":\"cancel\"} trailing", "{'type':'cancel'}", "{\"type\":\"cancel\",}", "/* comment */ {}", "{\"type\":\"cancel\"}\u0000",
         // Escapes of half a surrogate pair: JSON's grammar, not text.
         "{\"type\":\"\\ud800\"}", "{\"\\udfff\":1,\"type\":\"cancel\"}", "{\"type\":\"query\",\"content\":\"hi\",\"id\":\"\\ud83d\"}",
         "{\"config\":{\"session\":\"projects/p/locations/us/apps/a/sessions/\\udc00\"}}", "{\"realtimeInput\":{\"text\":\"\\ud800\\ud800\"}}",
         "{\"type\":\"user_input\",\"payload\":{\"text\":\"\\udbff\"}}"];

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private static FuzzFrame RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, random.Next(2) == 0 ? 64 : 4_096)];
        random.NextBytes(bytes);
        return new FuzzFrame(random.Next(10) == 0 ? WebSocketMessageType.Text : WebSocketMessageType.Binary, bytes);
    }

    /// <summary>Random characters from JSON's punctuation, letters, digits, escapes and a few scripts: valid UTF-8, rarely valid JSON.</summary>
    private static FuzzFrame RandomText(Random random)
    {
        const string alphabet = "{}[]\\\":,.-+eE0123456789truefalsn \t\r\nabcxyz\u00e9\u20ac\U0001F600\u0000\u001f";
        var text = new StringBuilder();
        for (var i = random.Next(0, 512); i > 0; i--)
        {
            text.Append(alphabet[random.Next(alphabet.Length)]);
        }
        return FuzzFrame.Text(text.ToString());
    }

    private static FuzzFrame Oversize(Random random)
    {
        var text = "{\"type\":\"user_input\",\"payload\":{\"text\":\"" + new string((char)('a' + random.Next(26)), OversizeBytes) + "\"}}";
        return FuzzFrame.Text(text);
    }

    /// <summary>Valid JSON text with invalid UTF-8 put inside it: a lone continuation byte, an overlong form, a character cut in two.</summary>
    private static FuzzFrame BrokenUtf8(Random random, string valid)
    {
        byte[][] broken = [[0x80], [0xC0, 0xAF], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xFF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]];
        var bytes = Encoding.UTF8.GetBytes(valid).ToList();
        var quote = bytes.IndexOf((byte)'"', random.Next(bytes.Count));
        var at = quote >= 0 ? quote + 1 : bytes.Count;
        bytes.InsertRange(at, broken[random.Next(broken.Length)]);
        if (random.Next(2) == 0)
        {
            bytes.RemoveRange(at + 1, bytes.Count - at - 1); // and cut right after it
        }
        return new FuzzFrame(WebSocketMessageType.Text, [.. bytes]);
    }

    private static FuzzFrame DeepNesting(Random random)
    {
        var depth = random.Next(2) == 0 ? random.Next(60, 70) : random.Next(1_000, 20_000);
        var builder = new StringBuilder();
        if (random.Next(2) == 0)
        {
            builder.Append("{\"type\":\"user_input\",\"payload\":");
            builder.Append('[', depth).Append(']', depth).Append('}');
        }
        else
        {
            for (var i = 0; i < depth; i++)
            {
                builder.Append("{\"a\":");
            }
            builder.Append('1').Append('}', random.Next(3) == 0 ? depth / 2 : depth);
        }
        return FuzzFrame.Text(builder.ToString());
    }

    /// <summary>Cut short; one time in ten inside a multi-byte character.</summary>
    private static FuzzFrame Truncated(Random random, string valid)
    {
        var bytes = Encoding.UTF8.GetBytes(valid + "\u00e9\u20ac\U0001F600");
        var cut = random.Next(10) == 0 ? bytes.Length - 1 - random.Next(8) : random.Next(Encoding.UTF8.GetByteCount(valid));
        return new FuzzFrame(WebSocketMessageType.Text, bytes[..cut]);
    }

    private static FuzzFrame Spliced(Random random, string first, string second) =>
        FuzzFrame.Text(first[..random.Next(first.Length)] + second[random.Next(second.Length)..]);

    /// <summary>Replaces a random value anywhere in the frame (its type included) with a hostile one, or adds or drops a field.</summary>
    private static string MutateField(Random random, string valid)
    {
        if (JsonNode.Parse(valid) is not JsonObject root)
        {
            return valid;
        }
        var containers = new List<JsonNode>();
        Collect(root, containers);
        var target = containers[random.Next(containers.Count)];
        switch (target)
        {
            case JsonObject obj when obj.Count > 0 && random.Next(4) != 0:
                var key = obj.ElementAt(random.Next(obj.Count)).Key;
                if (random.Next(8) == 0)
                {
                    obj.Remove(key);
                }
                else
                {
                    obj[key] = HostileValue(random);
                }
                break;
            case JsonObject obj:
                obj[random.Next(4) == 0 ? Pick(random, OddStrings) : "x" + random.Next(1000)] = HostileValue(random);
                break;
            case JsonArray array when array.Count > 0:
                array[random.Next(array.Count)] = HostileValue(random);
                break;
            case JsonArray array:
                array.Add(HostileValue(random));
                break;
        }
        var text = root.ToJsonString();
        // Numbers no .NET type holds, spliced in as text: JsonNode cannot carry them.
        return text.Replace("\"__number__\"", Pick(random, OddNumbers), StringComparison.Ordinal);
    }

    private static void Collect(JsonNode node, List<JsonNode> containers)
    {
        containers.Add(node);
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, child) in obj)
                {
                    if (child is JsonObject or JsonArray)
                    {
                        Collect(child, containers);
                    }
                }
                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    if (child is JsonObject or JsonArray)
                    {
                        Collect(child, containers);
                    }
                }
                break;
        }
    }

    private static JsonNode? HostileValue(Random random) => random.Next(12) switch
    {
        0 => null,
        1 => JsonValue.Create(random.Next(2) == 0),
        2 => JsonValue.Create("__number__"),
        3 => JsonValue.Create(random.NextInt64(long.MinValue, long.MaxValue)),
        4 => JsonValue.Create(Pick(random, OddStrings)),
        5 => JsonValue.Create(new string('x', random.Next(10_000, 300_000))),
        6 => new JsonArray(),
        7 => new JsonObject(),
        8 => JsonNode.Parse(string.Concat(Enumerable.Repeat("[", 40)) + string.Concat(Enumerable.Repeat("]", 40))),
        9 => JsonValue.Create(random.NextDouble() * double.MaxValue),
        10 => new JsonArray(JsonValue.Create("a"), JsonValue.Create(1), null, new JsonObject { ["type"] = "cancel" }),
        _ => JsonValue.Create(Convert.ToHexString(BitConverter.GetBytes(random.NextInt64())).ToLowerInvariant() + Convert.ToHexString(BitConverter.GetBytes(random.NextInt64())).ToLowerInvariant()),
    };

    /// <summary>Whether <paramref name="data"/> is one well-formed JSON value (strict: no comments, no trailing commas, valid UTF-8).</summary>
    public static JsonDocument? ParseJson(byte[] data)
    {
        try
        {
            return JsonDocument.Parse(data, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
