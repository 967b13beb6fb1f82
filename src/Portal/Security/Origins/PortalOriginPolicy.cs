using Microsoft.Extensions.Options;

namespace Portal.Security.Origins;

/// <summary>
/// Which browser pages may open Portal's WebSockets and hubs. Browsers send an Origin with every WebSocket handshake
/// and with cross-origin fetches, and the sign-in cookie goes along from any page of the same site, so a page on
/// another port or subdomain could otherwise act as the signed-in person. Allowed: no Origin (a program, not a
/// browser), Portal's own origin, and <c>Portal:AllowedOrigins</c>. Refused: everything else, including <c>null</c>.
/// The CES proxy at <c>/ces</c> has its own list (<c>AUTHORIZED_ORIGINS</c>), because the widget's pages are other sites.
/// </summary>
public sealed class PortalOriginPolicy
{
    private readonly HashSet<string> _allowed;

    public PortalOriginPolicy(IOptions<AllowedOriginsOptions> options)
    {
        _allowed = new HashSet<string>(
            options.Value.Origins.Select(AllowedOriginsOptions.Normalize).OfType<string>(), StringComparer.OrdinalIgnoreCase);
    }

    public bool IsAllowed(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
        {
            return true;
        }
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return false;
        }
        return IsOwn(uri, request.Host) || (AllowedOriginsOptions.Normalize(origin) is { } normalized && _allowed.Contains(normalized));
    }

    /// <summary>
    /// Host and port only: behind a proxy that ends TLS without X-Forwarded-Proto the request's scheme is http while the
    /// page's is https. A Host without a port matches a page on its scheme's default port (80 or 443), so
    /// <c>https://portal.example.com</c> is Portal's own page whether a proxy sends <c>Host: portal.example.com</c> or
    /// <c>Host: portal.example.com:443</c>; a page on any other port is another origin.
    /// </summary>
    private static bool IsOwn(Uri origin, HostString host) =>
        host.HasValue
        && string.Equals(origin.Host, host.Host, StringComparison.OrdinalIgnoreCase)
        && (host.Port is { } port ? origin.Port == port : origin.IsDefaultPort);
}
