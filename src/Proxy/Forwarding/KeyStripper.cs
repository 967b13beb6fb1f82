using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Portal.Proxy.Forwarding;

/// <summary>
/// Removes <c>STRIPPED_KEYS</c> from upstream JSON messages (text or binary). A path <c>a.b.c</c> removes key
/// <c>c</c> of the object reached through <c>a</c> then <c>b</c>, starting from any object in the message, so
/// <c>diagnosticInfo</c> goes wherever it appears. Messages that are not JSON objects, or that hold none of the
/// keys, are forwarded byte for byte.
/// </summary>
internal sealed class KeyStripper
{
    private readonly IReadOnlyList<string[]> _paths;
    private readonly byte[][] _firstKeys;

    public KeyStripper(IReadOnlyList<string[]> paths)
    {
        _paths = paths;
        _firstKeys = paths.Select(p => Encoding.UTF8.GetBytes($"\"{p[0]}\"")).Distinct(ByteArrayComparer.Instance).ToArray();
    }

    public bool IsEnabled => _paths.Count > 0;

    /// <summary>The message without the stripped keys, or null when nothing had to change.</summary>
    public byte[]? Strip(ReadOnlySpan<byte> message)
    {
        if (!IsEnabled || !MentionsAnyKey(message))
        {
            return null;
        }
        try
        {
            var root = JsonNode.Parse(message, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
            if (root is not JsonObject obj || !Visit(obj))
            {
                return null;
            }
            return JsonSerializer.SerializeToUtf8Bytes(root);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null; // not JSON, a name twice, or names that are not text (a lone "\ud800" escape): passed on as it came
        }
    }

    private bool MentionsAnyKey(ReadOnlySpan<byte> message)
    {
        foreach (var key in _firstKeys)
        {
            if (message.IndexOf(key) >= 0)
            {
                return true;
            }
        }
        return false;
    }

    private bool Visit(JsonNode? node)
    {
        var changed = false;
        if (node is JsonObject obj)
        {
            foreach (var path in _paths)
            {
                changed |= RemoveAt(obj, path);
            }
            foreach (var (_, child) in obj.ToList())
            {
                changed |= Visit(child);
            }
        }
        else if (node is JsonArray array)
        {
            foreach (var item in array)
            {
                changed |= Visit(item);
            }
        }
        return changed;
    }

    private static bool RemoveAt(JsonObject start, string[] path)
    {
        JsonObject? current = start;
        for (var i = 0; i < path.Length - 1; i++)
        {
            current = current[path[i]] as JsonObject;
            if (current is null)
            {
                return false;
            }
        }
        return current.Remove(path[^1]);
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var hash = new HashCode();
            hash.AddBytes(obj);
            return hash.ToHashCode();
        }
    }
}
