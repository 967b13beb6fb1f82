namespace Portal.Configuration;

/// <summary>
/// The source systems' environment variable names, honoured as aliases of Portal's configuration keys.
/// A Portal key set explicitly wins over its alias.
/// </summary>
public static class SourceAliases
{
    private static readonly (string Variable, string Key, Func<string, string?> Map)[] Aliases =
    [
        ("LOG_LEVEL", "Logging:LogLevel:Default", MapLogLevel),
        ("PROVIDER", "Portal:Agents:Provider", Same),
        ("MODEL", "Portal:Agents:Model", Same),
        ("INSTRUCTIONS", "Portal:Agents:Instructions", Same),
        ("TEMPERATURE", "Portal:Agents:Temperature", Same),
        ("MAX_TOKENS", "Portal:Agents:MaxTokens", Same),
        ("OPENAI_BASE_URL", "Portal:Agents:BaseUrl", Same),
        ("OPENAI_API_KEY", "Portal:Agents:Keys:OpenAI", Same),
        ("ANTHROPIC_API_KEY", "Portal:Agents:Keys:Anthropic", Same),
        ("GOOGLE_API_KEY", "Portal:Agents:Keys:Google", Same),
        ("GEMINI_API_KEY", "Portal:Agents:Keys:Google", Same),
        ("OPENROUTER_API_KEY", "Portal:Agents:Keys:OpenRouter", Same),
        ("WORKING_DIRECTORY", "Portal:Agents:WorkingDirectory", Same),
        ("APPROVAL_POLICY", "Portal:Agents:ApprovalPolicy", Same),
        ("CONTEXT_STRATEGY", "Portal:Agents:ContextStrategy", Lower),
        ("CONTEXT_COMPACTION_THRESHOLD", "Portal:Agents:CompactionThreshold", Same),
        ("MAX_HISTORY", "Portal:Agents:MaxHistory", Same),
        ("SESSION_TIMEOUT", "Portal:ChatSocket:SessionTimeout", Minutes),
    ];

    public static IConfigurationBuilder AddSourceAliases(this IConfigurationManager configuration)
    {
        var values = new Dictionary<string, string?>();
        foreach (var (variable, key, map) in Aliases)
        {
            var raw = Environment.GetEnvironmentVariable(variable);
            if (!string.IsNullOrWhiteSpace(raw) && configuration[key] is null && map(raw.Trim()) is { } value)
            {
                values[key] = value;
            }
        }
        // Added last, but only for keys nothing else set, so explicit settings keep their precedence.
        return configuration.AddInMemoryCollection(values);
    }

    private static string? Same(string value) => value;

    private static string? Lower(string value) => value.ToLowerInvariant();

    /// <summary>The seed gives <c>SESSION_TIMEOUT</c> in minutes; Portal's setting is a time span.</summary>
    private static string? Minutes(string value) =>
        double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var minutes) && minutes > 0
            ? TimeSpan.FromMinutes(minutes).ToString("c", System.Globalization.CultureInfo.InvariantCulture)
            : null;

    private static string? MapLogLevel(string value) => value.ToLowerInvariant() switch
    {
        "trace" => "Trace",
        "debug" => "Debug",
        "info" or "information" => "Information",
        "warn" or "warning" => "Warning",
        "error" => "Error",
        "critical" or "fatal" => "Critical",
        "none" or "silent" => "None",
        _ => null,
    };
}
