using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.Features;

namespace Portal.Security.Limits;

/// <summary>
/// Applies the connection and session limits before a WebSocket upgrade, so a refused client costs a short HTTP
/// answer: 429 with <c>Retry-After</c> and a problem document saying which limit and what to do. A connection holds
/// its place for as long as its request lasts (a WebSocket request lasts as long as the socket).
/// </summary>
internal sealed class LimitsMiddleware(RequestDelegate next, ClientLimits limits, LimitsMiddleware.Listener listener)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var endpoint = Classify(context);
        if (endpoint is null)
        {
            await next(context);
            return;
        }
        var userId = context.User.Identity?.IsAuthenticated == true ? context.User.FindFirstValue(ClaimTypes.NameIdentifier) : null;
        var address = context.Connection.RemoteIpAddress;
        using var lease = limits.TryOpenConnection(endpoint.Value.Name, userId, address, out var refused);
        if (lease is null)
        {
            await RefuseAsync(context, refused!);
            return;
        }
        if (endpoint.Value.StartsSession && !limits.TryStartSession(userId, address, out refused))
        {
            await RefuseAsync(context, refused!);
            return;
        }
        await next(context);
    }

    /// <summary>The limited endpoint a request opens a connection to, and whether connecting starts a new session.</summary>
    private (string Name, bool StartsSession)? Classify(HttpContext context)
    {
        if (listener.CesPort is { } port && context.Connection.LocalPort == port)
        {
            return IsWebSocketRequest(context) ? ("/ces", true) : null;
        }
        var path = context.Request.Path;
        if (path.StartsWithSegments("/hubs/session", out var rest))
        {
            // Negotiation is a short request of its own; the connection is the request that follows it.
            return rest.StartsWithSegments("/negotiate") ? null : ("/hubs/session", false);
        }
        if (!IsWebSocketRequest(context))
        {
            return null;
        }
        if (path.Equals("/ws/agent", StringComparison.OrdinalIgnoreCase))
        {
            return ("/ws/agent", !context.Request.Query.ContainsKey("sessionId"));
        }
        if (path.Equals("/ws/chat", StringComparison.OrdinalIgnoreCase))
        {
            return ("/ws/chat", true);
        }
        if (path.Equals("/ces", StringComparison.OrdinalIgnoreCase))
        {
            return ("/ces", true);
        }
        return null;
    }

    /// <summary>
    /// A WebSocket handshake, over HTTP/1.1 (<c>Upgrade: websocket</c>) or HTTP/2 (extended CONNECT). Read from the request
    /// itself: this runs before the WebSocket middleware that would answer <c>IsWebSocketRequest</c>.
    /// </summary>
    private static bool IsWebSocketRequest(HttpContext context)
    {
        if (context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
        {
            return string.Equals(connect.Protocol, "websocket", StringComparison.OrdinalIgnoreCase);
        }
        return HttpMethods.IsGet(context.Request.Method)
            && context.Request.Headers.Upgrade.Any(u => string.Equals(u, "websocket", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Which pipeline the middleware guards: the CES listener port (every WebSocket there is the widget's) or the main one.</summary>
    internal sealed record Listener(int? CesPort);

    internal static Task RefuseAsync(HttpContext context, LimitRefusal refusal)
    {
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(refusal.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Results.Problem(
                statusCode: StatusCodes.Status429TooManyRequests,
                title: "Too many requests",
                detail: refusal.Message,
                extensions: new Dictionary<string, object?> { ["limit"] = refusal.Kind.ToString(), ["value"] = refusal.Limit })
            .ExecuteAsync(context);
    }
}
