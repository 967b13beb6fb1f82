using System.Text.RegularExpressions;
using Portal.Proxy.Configuration;

namespace Portal.Proxy.Forwarding;

/// <summary>
/// Which origins may use the proxy (<c>AUTHORIZED_ORIGINS</c>, <c>ALLOW_LOCALHOST</c>), checked before a WebSocket is
/// upgraded and before a text-mode request is forwarded. An empty list allows every origin (with a warning at
/// start-up); with a list, a request without an Origin header is refused.
/// </summary>
internal sealed partial class OriginPolicy(ProxySettings settings)
{
    public bool AllowsEveryOrigin => settings.AuthorizedOrigins.Count == 0;

    public bool IsAllowed(string? origin)
    {
        if (AllowsEveryOrigin)
        {
            return true;
        }
        if (string.IsNullOrWhiteSpace(origin))
        {
            return false;
        }
        var normalized = origin.Trim().TrimEnd('/');
        // Scheme and host of an origin are case-insensitive; browsers send them in lower case anyway.
        return settings.AuthorizedOrigins.Contains(normalized, StringComparer.OrdinalIgnoreCase)
            || (settings.AllowLocalhost && LocalhostOrigin().IsMatch(normalized));
    }

    [GeneratedRegex(@"^https?://localhost(:\d{1,5})?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex LocalhostOrigin();
}
