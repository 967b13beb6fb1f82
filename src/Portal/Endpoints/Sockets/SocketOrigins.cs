using Portal.Security.Origins;
using Portal.Security.Tokens;

namespace Portal.Endpoints.Sockets;

/// <summary>
/// The checks of <c>/ws/agent</c> and <c>/ws/chat</c> before their upgrade. The Origin rule is Portal's one
/// (<see cref="PortalOriginPolicy"/>: no Origin, Portal's own, or <c>Portal:AllowedOrigins</c>, which includes the
/// older <c>Portal:Sockets:AllowedOrigins</c>); the middleware refuses a bad origin under <c>/ws</c> already, and this
/// check keeps a socket mapped elsewhere just as safe.
/// </summary>
public static class SocketOrigins
{
    public static bool IsAllowed(HttpContext context) =>
        context.RequestServices.GetRequiredService<PortalOriginPolicy>().IsAllowed(context.Request);

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
        if (!IsAllowed(context))
        {
            await AllowedOriginsMiddleware.RefuseAsync(context);
            return false;
        }
        return await AccessProblems.CheckAsync(context, endpoint, scope);
    }
}
