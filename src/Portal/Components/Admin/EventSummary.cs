using System.Globalization;
using System.Text;
using System.Text.Json;
using Portal.Sessions;

namespace Portal.Components.Admin;

/// <summary>
/// One line saying what an event holds, for the timeline's Summary column, so a session can be read down the page
/// without opening each payload: the text typed or answered, the delta streamed, the command asked for, the decision
/// and who made it, the widget's message kind and its text, how a turn ended. Plain text, never markup (Blazor encodes
/// it), at most <see cref="MaxLength"/> characters.
/// </summary>
public static class EventSummary
{
    public const int MaxLength = 160;

    // Payloads larger than this are summarised by their beginning as text rather than parsed.
    private const int MaxParsedChars = 64 * 1024;

    // String values under these names say what an event is about; found in document order.
    private static readonly HashSet<string> Telling = new(StringComparer.Ordinal)
    {
        "text", "delta", "transcript", "content", "message", "summary", "reason", "detail", "problem", "output", "query",
        "error", "session", "preview",
    };

    public static string Of(SessionEvent e) => Of(e.Type, e.Payload);

    public static string Of(string type, string payload)
    {
        if (payload.Length > MaxParsedChars)
        {
            return Clip(payload);
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            return Clip(payload); // stored as a preview, or not JSON
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Clip(root.ValueKind == JsonValueKind.String ? root.GetString() ?? "" : root.GetRawText());
            }
            try
            {
                return Clip(Typed(type, root) ?? Generic(root));
            }
            catch (InvalidOperationException)
            {
                return Clip(payload); // a string that is not text (a lone surrogate escape)
            }
        }
    }

    private static string? Typed(string type, JsonElement root) => type switch
    {
        EventTypes.ResponseItem => String(root, "type") switch
        {
            "message" => Join(Strings(root, "text")),
            "function_call" => $"{String(root, "name")}({String(root, "arguments")})",
            "function_call_output" => ToolOutput(String(root, "output")),
            _ => null,
        },
        EventTypes.ApprovalRequest => ApprovalRequest(root),
        EventTypes.ApprovalDecision => ApprovalDecision(root),
        Agents.Runtime.AgentEventTypes.AgentFinished => AgentFinished(root),
        // A widget connection's end: who ended it, and each leg's close code and reason.
        EventTypes.SessionEnded when root.TryGetProperty("client", out var client) && root.TryGetProperty("upstream", out var upstream) =>
            $"{String(root, "initiator") ?? "ended"}: widget {Close(client)}, CES {Close(upstream)}",
        EventTypes.RunStarted => string.Join(" · ", new[] { String(root, "agent"), String(root, "model") }.Where(s => !string.IsNullOrEmpty(s))),
        // The widget's frames: the CES message kind (sessionOutput, recognitionResult, turnCompleted...) and its text.
        EventTypes.ProxyFrame when root.EnumerateObject().FirstOrDefault() is { Name.Length: > 0 } first
            && first.Name is not ("truncated" or "originalBytes" or "preview") =>
            Join(Strings(first.Value, null)) is { Length: > 0 } text ? $"{first.Name}: {text}" : first.Name,
        _ => null,
    };

    /// <summary>A tool's output; a shell's comes as JSON holding the output and its exit code.</summary>
    private static string? ToolOutput(string? output)
    {
        if (output is not ['{', ..])
        {
            return output;
        }
        try
        {
            using var document = JsonDocument.Parse(output);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || String(root, "output") is not { } text)
            {
                return output;
            }
            return root.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
                && metadata.TryGetProperty("exit_code", out var code) && code.TryGetInt32(out var exit)
                ? $"exit {exit}" + (text.Length > 0 ? $": {text}" : "")
                : text;
        }
        catch (JsonException)
        {
            return output;
        }
    }

    private static string ApprovalRequest(JsonElement root)
    {
        var what = root.TryGetProperty("command", out var command) && command.ValueKind == JsonValueKind.Array
            ? string.Join(' ', command.EnumerateArray().Select(a => a.ValueKind == JsonValueKind.String ? a.GetString() : a.GetRawText()))
            : root.TryGetProperty("applyPatch", out var patch) && patch.ValueKind == JsonValueKind.Object
                ? "patch " + string.Join(", ", Strings(patch, "files"))
                : String(root, "tool") ?? "";
        return String(root, "reason") is { Length: > 0 } reason ? $"{what} — {reason}" : what;
    }

    private static string ApprovalDecision(JsonElement root)
    {
        var line = $"{String(root, "decision")} by {String(root, "by")}";
        if (root.TryGetProperty("remembered", out var remembered) && remembered.ValueKind == JsonValueKind.True)
        {
            line += " (for the session)";
        }
        return String(root, "message") is { Length: > 0 } message ? $"{line}: {message}" : line;
    }

    private static string AgentFinished(JsonElement root)
    {
        var line = String(root, "status") ?? "finished";
        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            line += $" · {Number(usage, "inputTokens")} in / {Number(usage, "outputTokens")} out";
        }
        return String(root, "error") is { Length: > 0 } error ? $"{line}: {error}" : line;
    }

    private static string Close(JsonElement leg)
    {
        if (leg.ValueKind != JsonValueKind.Object || !leg.TryGetProperty("code", out var code) || code.ValueKind != JsonValueKind.Number)
        {
            return "no close frame";
        }
        return String(leg, "reason") is { Length: > 0 } reason ? $"{code.GetRawText()} {reason}" : code.GetRawText();
    }

    /// <summary>The telling strings in document order; else the top-level scalars as <c>name: value</c>; else the top-level names.</summary>
    private static string Generic(JsonElement root)
    {
        if (Join(Strings(root, null)) is { Length: > 0 } text)
        {
            return text;
        }
        var scalars = root.EnumerateObject()
            .Where(p => p.Value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array) && !IsIdentifier(p.Name))
            .Take(4)
            .Select(p => $"{p.Name}: {(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText())}")
            .ToList();
        return scalars.Count > 0 ? string.Join(", ", scalars) : string.Join(", ", root.EnumerateObject().Where(p => !IsIdentifier(p.Name)).Select(p => p.Name));
    }

    /// <summary>String values under <paramref name="name"/> (any depth), or under any telling name when null.</summary>
    private static IEnumerable<string> Strings(JsonElement element, string? name, string? property = null, int depth = 0)
    {
        if (depth > 16)
        {
            yield break;
        }
        switch (element.ValueKind)
        {
            case JsonValueKind.String when property is not null && (name is null ? Telling.Contains(property) : property == name):
                if (element.GetString() is { Length: > 0 } text)
                {
                    yield return text;
                }
                break;
            case JsonValueKind.Object:
                foreach (var child in element.EnumerateObject())
                {
                    foreach (var value in Strings(child.Value, name, child.Name, depth + 1))
                    {
                        yield return value;
                    }
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    // The items of a named array count as that name ("files": ["a", "b"]).
                    foreach (var value in Strings(item, name, property, depth + 1))
                    {
                        yield return value;
                    }
                }
                break;
        }
    }

    private static string Join(IEnumerable<string> parts)
    {
        var line = new StringBuilder();
        foreach (var part in parts)
        {
            if (line.Length > MaxLength)
            {
                break;
            }
            if (line.Length > 0)
            {
                line.Append(" · ");
            }
            line.Append(part);
        }
        return line.ToString();
    }

    private static bool IsIdentifier(string name) =>
        name is "id" or "timestamp" || name.EndsWith("Id", StringComparison.Ordinal) || name.EndsWith("_id", StringComparison.Ordinal);

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.TryGetInt64(out var n) ? n.ToString("N0", CultureInfo.InvariantCulture) : "?";

    /// <summary>One line: whitespace runs become one space, cut at <see cref="MaxLength"/> with an ellipsis.</summary>
    private static string Clip(string text)
    {
        var line = new StringBuilder(Math.Min(text.Length, MaxLength + 1));
        var space = false;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                space = line.Length > 0;
                continue;
            }
            if (space)
            {
                line.Append(' ');
                space = false;
            }
            if (line.Length >= MaxLength)
            {
                return line.ToString(0, MaxLength - 1) + "…";
            }
            line.Append(c);
        }
        return line.ToString();
    }
}
