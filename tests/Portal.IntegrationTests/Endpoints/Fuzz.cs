using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Portal.IntegrationTests.Endpoints;

/// <summary>Random and mutated arguments for the hub's methods, reproducible from a seed.</summary>
internal static partial class Fuzz
{
    private static readonly string[] Types = ["user.action", "chat.message", "a", "approval_request", "error", "proxy_stats", "no spaces", "", "x/y:z-1_2"];
    private static readonly string[] Keys = ["id", "type", "data", "to", "source", "timestamp", "sessionId", "afterSeq", "title", "extra", "\\u0000", "type"];

    /// <summary>An event, valid or not: a valid one mutated, or any JSON value at all.</summary>
    public static string Event(Random random)
    {
        if (random.Next(8) == 0)
        {
            return Value(random, 0);
        }
        var fields = new List<string>();
        if (random.Next(6) != 0)
        {
            fields.Add($"\"type\":{(random.Next(5) == 0 ? Value(random, 1) : Quote(Types[random.Next(Types.Length)]))}");
        }
        if (random.Next(2) == 0)
        {
            fields.Add($"\"data\":{random.Next(20) switch
            {
                0 => $"{{\"blob\":{Quote(new string('x', random.Next(60_000, 70_000)))}}}",
                < 5 => Value(random, 1),
                _ => Object(random, 1),
            }}");
        }
        if (random.Next(3) == 0)
        {
            fields.Add($"\"id\":{(random.Next(3) == 0 ? Value(random, 1) : Quote("evt_" + random.Next()))}");
        }
        if (random.Next(5) == 0)
        {
            fields.Add($"\"to\":{(random.Next(2) == 0 ? Value(random, 1) : "[\"someone\"]")}");
        }
        if (random.Next(6) == 0)
        {
            fields.Add($"{Quote(Keys[random.Next(Keys.Length)])}:{Value(random, 1)}");
        }
        return "{" + string.Join(",", fields.OrderBy(_ => random.Next())) + "}";
    }

    public static string JoinRequest(Random random, string sessionId) => random.Next(6) switch
    {
        0 => Quote(sessionId),
        1 => $"{{\"sessionId\":{Quote(sessionId)},\"afterSeq\":{Value(random, 1)}}}",
        2 => $"{{\"sessionId\":{Value(random, 1)}}}",
        3 => $"{{\"title\":{Value(random, 1)},\"afterSeq\":1}}",
        4 => Object(random, 0),
        _ => Value(random, 0),
    };

    /// <summary>Bytes that are not a hub message: text, broken JSON, JSON of the wrong shape.</summary>
    public static string Garbage(Random random) => random.Next(5) switch
    {
        0 => Text(random, random.Next(1, 200)),
        1 => "{\"type\":" + random.Next(-5, 20) + "," + Text(random, 10),
        2 => "{\"type\":1,\"target\":" + random.Next() + ",\"arguments\":" + Value(random, 1) + "}",
        3 => new string('[', 200) + new string(']', 200),
        _ => Value(random, 0),
    };

    /// <summary>The code a refusal starts with (<c>HubException: code: ...</c>), or the whole message when it has none.</summary>
    public static string Code(string error) => CodePattern().Match(error) is { Success: true } m ? m.Groups[1].Value : error;

    private static string Value(Random random, int depth) => random.Next(depth > 3 ? 6 : 8) switch
    {
        0 => "null",
        1 => random.Next(-1000, 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        2 => random.Next(2) == 0 ? "true" : "false",
        3 => Quote(Text(random, random.Next(0, 30))),
        4 => random.Next(30) == 0 ? Quote(new string('x', random.Next(60_000, 70_000))) : "1.5e300",
        5 => random.Next(4) == 0 ? "\"\\ud800 lone surrogate\"" : Quote(Types[random.Next(Types.Length)]),
        6 => "[" + string.Join(",", Enumerable.Range(0, random.Next(4)).Select(_ => Value(random, depth + 1))) + "]",
        _ => Object(random, depth + 1),
    };

    private static string Object(Random random, int depth) =>
        "{" + string.Join(",", Enumerable.Range(0, random.Next(4)).Select(_ => $"{Quote(random.Next(3) == 0 ? Keys[random.Next(Keys.Length)] : Text(random, 6))}:{Value(random, depth + 1)}")) + "}";

    private static string Text(Random random, int length)
    {
        var text = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            text.Append(random.Next(10) switch
            {
                0 => (char)random.Next(0, 32),
                1 => (char)random.Next(0x80, 0x2FFF),
                _ => (char)random.Next(32, 127),
            });
        }
        return text.ToString();
    }

    private static string Quote(string text) => JsonSerializer.Serialize(text);

    [GeneratedRegex(@"HubException: ([a-z_]+): ")]
    private static partial Regex CodePattern();
}
