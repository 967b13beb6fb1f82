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
