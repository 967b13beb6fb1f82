using Portal.Security.Tokens;

namespace Portal.Endpoints.Sockets;

/// <summary>
/// The Origin check of <c>/ws/agent</c> and <c>/ws/chat</c>, made before the upgrade. Browsers send an Origin with every
/// WebSocket handshake, and the sign-in cookie goes along from any page of the same site, so a page on another port
/// or subdomain could otherwise open a socket as the signed-in person. Allowed: no Origin (a program, not a browser),
/// Portal's own origin, and those listed in <c>Portal:Sockets:AllowedOrigins</c>.
/// </summary>
public static class SocketOrigins
{
    public static bool IsAllowed(HttpContext context, SocketOptions options)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length == 0)
        {
            return true;
        }
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri))
        {
            return false;
        }
        // Host and port only: behind a proxy that ends TLS the request's scheme is http while the page's is https.
        var own = string.Equals(uri.Authority, context.Request.Host.Value, StringComparison.OrdinalIgnoreCase);
        return own || options.AllowedOrigins.Any(o => string.Equals(o.TrimEnd('/'), origin.TrimEnd('/'), StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// The checks every program-facing socket makes before its upgrade, in order: a WebSocket request (else 400), an
    /// allowed origin (else 403), a signed-in cookie or a valid API token (else 401, saying why a token was refused),
    /// and for a token the <paramref name="scope"/> (else 403 naming it). True when the request may be upgraded.
    /// </summary>
    public static async Task<bool> AdmitAsync(HttpContext context, SocketOptions options, string endpoint, string scope)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("Expected WebSocket request");
            return false;
        }
        if (!await CheckAsync(context, options))
        {
            return false;
        }
        return await AccessProblems.CheckAsync(context, endpoint, scope);
    }

    /// <summary>Answers 403 with the reason when the origin is refused; true when the request may go on.</summary>
    private static async Task<bool> CheckAsync(HttpContext context, SocketOptions options)
    {
        if (IsAllowed(context, options))
        {
            return true;
        }
        await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Origin not allowed",
            detail: $"WebSocket connections from '{context.Request.Headers.Origin}' are not accepted. Portal's own pages, programs (no Origin) and the origins in Portal:Sockets:AllowedOrigins are.")
            .ExecuteAsync(context);
        return false;
    }
}
