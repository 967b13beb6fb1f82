using Portal.Security.Origins;

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
    /// allowed origin (else 403), a signed-in user (else 401). True when the request may be upgraded.
    /// </summary>
    public static async Task<bool> AdmitAsync(HttpContext context, SocketOptions options, string endpoint)
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
        if (context.User.Identity?.IsAuthenticated != true)
        {
            await Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Sign in first",
                detail: $"{endpoint} needs a signed-in session cookie.").ExecuteAsync(context);
            return false;
        }
        return true;
    }
}
