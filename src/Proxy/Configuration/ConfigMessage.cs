using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Portal.Proxy.Configuration;

/// <summary>Where a session lives, from <c>projects/P/locations/L/(apps|agents)/...</c>.</summary>
internal sealed record SessionName(string Project, string Location, string Kind)
{
    public const string Apps = "apps";
    public const string Agents = "agents";
}

/// <summary>
/// A valid first message: what goes upstream (<see cref="Forwarded"/>: UTF-8 JSON, wrapper kept, accessToken and
/// environment removed), and what the proxy itself needs from it.
/// </summary>
internal sealed record ParsedConfig(byte[] Forwarded, string Session, SessionName Name, string? AccessToken, string? Environment);

/// <summary>The config message the widget sends first, checked and made ready to forward.</summary>
internal static partial class ConfigMessage
{
    public const string InvalidJson = "Invalid JSON";
    public const string InvalidFirstMessage = "Invalid first message";
    public const string NoSession = "No session provided";
    public const string InvalidSession = "Invalid session format";
    public const string InvalidToken = "Invalid access token";

    /// <summary>Parses a first message; on failure returns the reason the client is closed with (1002).</summary>
    public static ParsedConfig? Parse(ReadOnlySpan<byte> utf8, out string? error)
    {
        try
        {
            return ParseCore(utf8, out error);
        }
        catch (InvalidOperationException)
        {
            // JSON whose strings or names are not all text (a lone "\ud800" escape): reading them throws.
            error = InvalidJson;
            return null;
        }
    }

    private static ParsedConfig? ParseCore(ReadOnlySpan<byte> utf8, out string? error)
    {
        error = null;
        JsonNode? root;
        try
        {
            // Duplicate names are refused: JsonNode would throw on them later, outside this parse.
            root = JsonNode.Parse(utf8, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException)
        {
            error = InvalidJson;
            return null;
        }
        // As the reference: "configMessage" (Dialogflow Playbooks) is looked at before "config".
        var wrapper = root is JsonObject message
            ? message.ContainsKey("configMessage") ? "configMessage" : message.ContainsKey("config") ? "config" : null
            : null;
        if (wrapper is null || root![wrapper] is not JsonObject config || config.Count == 0)
        {
            error = InvalidFirstMessage;
            return null;
        }
        var accessToken = Take(config, "accessToken");
        var environment = Take(config, "environment");
        if (accessToken is not null && !TokenPattern().IsMatch(accessToken))
        {
            // It goes into an HTTP header: anything but a bearer token (RFC 6750 b64token) could inject headers.
            error = InvalidToken;
            return null;
        }
        var session = config["session"] is JsonValue value && value.TryGetValue<string>(out var s) ? s.Trim() : null;
        if (string.IsNullOrEmpty(session))
        {
            error = NoSession;
            return null;
        }
        var name = ParseSessionName(session);
        if (name is null)
        {
            error = InvalidSession;
            return null;
        }
        return new ParsedConfig(JsonSerializer.SerializeToUtf8Bytes(root), session, name, accessToken, environment);
    }

    /// <summary>
    /// The reference's pattern, with one fix: the location must look like a Google Cloud location. The reference
    /// accepts anything there, and the agents template puts the location in the host name, so a crafted session
    /// could send the proxy's own token to another host.
    /// </summary>
    public static SessionName? ParseSessionName(string session)
    {
        var match = SessionPattern().Match(session);
        if (!match.Success || !LocationPattern().IsMatch(match.Groups[2].Value) || !ProjectPattern().IsMatch(match.Groups[1].Value))
        {
            return null;
        }
        return new SessionName(match.Groups[1].Value, match.Groups[2].Value, match.Groups[3].Value);
    }

    private static string? Take(JsonObject config, string key)
    {
        if (!config.Remove(key, out var node))
        {
            return null;
        }
        return node is JsonValue value && value.TryGetValue<string>(out var text) && !string.IsNullOrWhiteSpace(text) ? text.Trim() : null;
    }

    [GeneratedRegex("projects/([^/]+)/locations/(.*?)/(agents|apps)/", RegexOptions.CultureInvariant)]
    private static partial Regex SessionPattern();

    [GeneratedRegex("^[a-z][a-z0-9-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex LocationPattern();

    /// <summary>Project ids and numbers, with the domain-scoped form (example.com:project): it becomes a header value.</summary>
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9.:_-]{0,127}$", RegexOptions.CultureInvariant)]
    internal static partial Regex ProjectPattern();

    [GeneratedRegex("^[A-Za-z0-9._~+/-]{1,8192}=*$", RegexOptions.CultureInvariant)]
    private static partial Regex TokenPattern();
}

/// <summary>Picks the upstream URL for a session, as the reference does.</summary>
internal static class UpstreamEndpoint
{
    public static Uri For(CesProxyOptions options, SessionName name, string? environment)
    {
        var agents = name.Kind == SessionName.Agents;
        var byEnvironment = agents ? options.AgentsEndpointTemplatesByEnvironment : options.AppsEndpointTemplatesByEnvironment;
        var template = environment is not null && byEnvironment.TryGetValue(environment.ToUpperInvariant(), out var specific)
            ? specific
            : agents ? options.AgentsEndpointTemplate : options.AppsEndpointTemplate;
        return new Uri(template.Replace("{location}", name.Location, StringComparison.Ordinal));
    }
}
