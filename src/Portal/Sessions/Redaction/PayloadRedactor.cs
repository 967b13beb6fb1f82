using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Portal.Sessions.Redaction;

/// <summary>
/// Removes secrets from an event payload before it is stored or shown: the values of credential-named keys
/// (accessToken, apiKey, Authorization, ...) at any depth, and token-shaped strings (Bearer values, OpenAI,
/// Anthropic and Google keys, Google OAuth access tokens) wherever they appear.
/// </summary>
internal static partial class PayloadRedactor
{
    public const string Mask = "[redacted]";

    // Normalised (lowercase, without '-', '_' and '.') names whose values are always secret.
    private static readonly FrozenSetWrapper SecretKeys = new(
    [
        "accesstoken", "refreshtoken", "idtoken", "token", "bearertoken", "sessiontoken", "apitoken", "authtoken",
        "apikey", "xapikey", "xgoogapikey", "googleapikey", "openaiapikey", "anthropicapikey", "openrouterapikey",
        "authorization", "proxyauthorization", "cookie", "setcookie",
        "clientsecret", "secret", "password", "privatekey", "privatekeyid", "credentials",
    ]);

    // Cheap pre-check: a payload containing none of these (case-insensitively) cannot hold a secret we recognise.
    private static readonly SearchValues<string> Triggers = SearchValues.Create(
        ["token", "key", "authorization", "secret", "password", "bearer", "sk-", "aiza", "ya29.", "cookie", "credential"],
        StringComparison.OrdinalIgnoreCase);

    public static string Redact(string payload)
    {
        if (payload.AsSpan().IndexOfAny(Triggers) < 0 || !MayHoldSecrets(payload))
        {
            return payload;
        }
        try
        {
            var root = JsonNode.Parse(payload, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
            return Walk(root, out var replacement) ? (replacement ?? root)?.ToJsonString() ?? "null" : payload;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not JSON, a name twice, or strings that are not all text (a lone "\ud800" escape): scrub token-shaped text in place.
            return ScrubText(payload);
        }
    }

    /// <summary>
    /// A scan without building a document: true when a property is credential-named, a string is token-shaped, or
    /// the payload is not JSON (then the text scrub decides). Most payloads that merely mention "token" or "key"
    /// stop here.
    /// </summary>
    private static bool MayHoldSecrets(string payload)
    {
        byte[]? rentedBytes = null;
        char[]? rentedChars = null;
        var maxBytes = Encoding.UTF8.GetMaxByteCount(payload.Length);
        var bytes = maxBytes <= 2048 ? stackalloc byte[maxBytes] : (rentedBytes = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            var reader = new Utf8JsonReader(bytes[..Encoding.UTF8.GetBytes(payload, bytes)]);
            Span<char> text = stackalloc char[256];
            while (reader.Read())
            {
                if (reader.TokenType is not (JsonTokenType.PropertyName or JsonTokenType.String))
                {
                    continue;
                }
                var length = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
                if (length > text.Length)
                {
                    if (rentedChars is not null)
                    {
                        ArrayPool<char>.Shared.Return(rentedChars);
                    }
                    text = rentedChars = ArrayPool<char>.Shared.Rent(length);
                }
                var value = text[..reader.CopyString(text)];
                if (IsSecretKey(value) || (reader.TokenType == JsonTokenType.String && value.IndexOfAny(Triggers) >= 0 && TokenPattern().IsMatch(value)))
                {
                    return true;
                }
            }
            return false;
        }
        catch (JsonException)
        {
            return true;
        }
        finally
        {
            if (rentedBytes is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedBytes);
            }
            if (rentedChars is not null)
            {
                ArrayPool<char>.Shared.Return(rentedChars);
            }
        }
    }

    /// <summary>Redacts in place; returns true when something changed. A string root is returned through <paramref name="replacement"/>.</summary>
    private static bool Walk(JsonNode? node, out JsonNode? replacement)
    {
        replacement = null;
        switch (node)
        {
            case JsonObject obj:
                var changed = false;
                foreach (var (name, child) in obj.ToList())
                {
                    if (IsSecretKey(name) && child is not null && !(child is JsonValue v && v.TryGetValue<string>(out var s) && s == Mask))
                    {
                        obj[name] = Mask;
                        changed = true;
                    }
                    else if (Walk(child, out var childReplacement))
                    {
                        if (childReplacement is not null)
                        {
                            obj[name] = childReplacement;
                        }
                        changed = true;
                    }
                }
                return changed;
            case JsonArray array:
                var arrayChanged = false;
                for (var i = 0; i < array.Count; i++)
                {
                    if (Walk(array[i], out var itemReplacement))
                    {
                        if (itemReplacement is not null)
                        {
                            array[i] = itemReplacement;
                        }
                        arrayChanged = true;
                    }
                }
                // Header lists such as [["Authorization", "Bearer x"]] or ["Authorization", "x"]: mask the value after a secret name.
                for (var i = 0; i + 1 < array.Count; i++)
                {
                    if (array[i] is JsonValue name && name.TryGetValue<string>(out var n) && IsSecretKey(n)
                        && array[i + 1] is JsonValue value && value.TryGetValue<string>(out var val) && val != Mask)
                    {
                        array[i + 1] = Mask;
                        arrayChanged = true;
                    }
                }
                return arrayChanged;
            case JsonValue value when value.TryGetValue<string>(out var text):
                var scrubbed = ScrubText(text);
                if (!ReferenceEquals(scrubbed, text))
                {
                    replacement = JsonValue.Create(scrubbed);
                    return true;
                }
                return false;
            default:
                return false;
        }
    }

    internal static bool IsSecretKey(ReadOnlySpan<char> name)
    {
        if (name.Length is 0 or > 40)
        {
            return false;
        }
        Span<char> buffer = stackalloc char[name.Length];
        var length = 0;
        foreach (var c in name)
        {
            if (c is not ('-' or '_' or '.' or ' '))
            {
                buffer[length++] = char.ToLowerInvariant(c);
            }
        }
        return SecretKeys.Contains(buffer[..length]);
    }

    /// <summary>Masks token-shaped substrings; returns the same instance when there were none.</summary>
    internal static string ScrubText(string text)
    {
        if (text.AsSpan().IndexOfAny(Triggers) < 0)
        {
            return text;
        }
        var result = TokenPattern().Replace(text, m => m.Groups["prefix"].Success ? m.Groups["prefix"].Value + Mask : Mask);
        return result == text ? text : result;
    }

    [GeneratedRegex(
        @"(?<prefix>\bBearer\s+)[A-Za-z0-9\-._~+/]{16,}=*" +
        @"|(?<prefix>\b(?-i:Basic)\s+)(?=[A-Za-z0-9+/]*[0-9=])[A-Za-z0-9+/]{12,}={0,2}" +
        @"|\bsk-(?:ant-|proj-|or-)?[A-Za-z0-9_\-]{20,}" +
        @"|\bAIza[0-9A-Za-z_\-]{30,}" +
        @"|\bya29\.[0-9A-Za-z_\-.]{10,}" +
        @"|(?<prefix>[?&](?:access_token|api_key|apikey|key)=)[^&\s""]{8,}",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex TokenPattern();

    /// <summary>A frozen set that can be probed with a span, so key checks allocate nothing.</summary>
    private sealed class FrozenSetWrapper(IEnumerable<string> items)
    {
        private readonly System.Collections.Frozen.FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> _lookup =
            System.Collections.Frozen.FrozenSet.ToFrozenSet(items, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();

        public bool Contains(ReadOnlySpan<char> key) => _lookup.Contains(key);
    }
}
