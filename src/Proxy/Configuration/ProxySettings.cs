namespace Portal.Proxy.Configuration;

/// <summary>The parts of <see cref="CesProxyOptions"/> that are parsed once: origins, scopes, stripped paths, templates.</summary>
internal sealed record ProxySettings(
    IReadOnlyList<string> AuthorizedOrigins,
    bool AllowLocalhost,
    IReadOnlyList<string> OAuthScopes,
    IReadOnlyList<string[]> StrippedPaths,
    Uri TextApiBaseUrl)
{
    public static ProxySettings From(CesProxyOptions options) => new(
        Split(options.AuthorizedOrigins, ';').Select(o => o.TrimEnd('/')).ToList(),
        options.AllowLocalhost,
        Split(options.OAuthScopes, ',').ToList(),
        Split(options.StrippedKeys, ';').Select(p => p.Split('.', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Where(p => p.Length > 0).ToList(),
        new Uri(string.IsNullOrWhiteSpace(options.TextApiBaseUrl) ? $"https://{options.CesApiDomain}" : options.TextApiBaseUrl.TrimEnd('/')));

    private static string[] Split(string? value, char separator) =>
        (value ?? "").Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
