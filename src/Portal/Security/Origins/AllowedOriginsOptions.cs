using Microsoft.Extensions.Options;

namespace Portal.Security.Origins;

/// <summary>
/// <c>Portal:AllowedOrigins</c>: browser origins besides Portal's own that may open Portal's WebSockets and hubs. The
/// older <c>Portal:Sockets:AllowedOrigins</c> is read too and merged, so existing settings keep working.
/// </summary>
public sealed class AllowedOriginsOptions
{
    public const string Section = "Portal:AllowedOrigins";
    public const string SocketsAlias = "Portal:Sockets:AllowedOrigins";

    /// <summary>Exact origins (<c>https://tools.example.com</c>, <c>http://localhost:3000</c>): scheme, host and port, no path.</summary>
    public List<string> Origins { get; set; } = [];

    internal static void Read(AllowedOriginsOptions options, IConfiguration configuration)
    {
        options.Origins = [.. ConfigurationLists.Read(configuration, Section), .. ConfigurationLists.Read(configuration, SocketsAlias)];
    }

    /// <summary>The canonical form an origin is compared in: lower-case scheme and host, port only when not the default.</summary>
    internal static string? Normalize(string origin) =>
        Uri.TryCreate(origin.Trim(), UriKind.Absolute, out var uri)
        && uri.Scheme is "http" or "https"
        && uri.AbsolutePath == "/" && uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.UserInfo.Length == 0
            ? $"{uri.Scheme}://{uri.Authority}"
            : null;
}

internal sealed class AllowedOriginsOptionsValidation : IValidateOptions<AllowedOriginsOptions>
{
    public ValidateOptionsResult Validate(string? name, AllowedOriginsOptions options)
    {
        var bad = options.Origins.Where(o => AllowedOriginsOptions.Normalize(o) is null).ToList();
        return bad.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                $"{AllowedOriginsOptions.Section}: '{string.Join("', '", bad)}' is not an origin. Write scheme, host and optional port, e.g. https://tools.example.com (no path, no '*').");
    }
}
