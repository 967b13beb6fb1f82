using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Proxy.Telemetry;

namespace Portal.Proxy.Forwarding;

/// <summary>The widget's WebSocket: origin checked before the upgrade, then one <see cref="ProxyConnection"/>.</summary>
internal static partial class CesWebSocketEndpoint
{
    public static async Task HandleAsync(HttpContext context)
    {
        var services = context.RequestServices.GetRequiredService<ProxyServices>();
        var logger = services.Loggers.CreateLogger("Portal.Proxy.Forwarding.CesWebSocket");
        var origin = context.Request.Headers.Origin.Count > 0 ? context.Request.Headers.Origin.ToString() : null;
        if (!services.Origins.IsAllowed(origin))
        {
            // Refused before the upgrade: nothing reaches the upstream, and no token is spent.
            Log.OriginRefused(logger, origin ?? "(none)");
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await context.Response.WriteAsync("Origin not allowed", context.RequestAborted);
            return;
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("Expected a WebSocket request", context.RequestAborted);
            return;
        }

        var options = services.Options;
        using var client = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveInterval > TimeSpan.Zero && options.KeepAliveTimeout > TimeSpan.Zero
                ? options.KeepAliveTimeout
                : Timeout.InfiniteTimeSpan,
        });
        var info = new CesConnectionInfo(
            Guid.NewGuid().ToString("N"),
            origin,
            context.Connection.RemoteIpAddress?.ToString(),
            context.Request.Path.Value ?? "/");
        ICesConnectionObserver observer;
        try
        {
            observer = await services.Observer.ConnectionOpenedAsync(info, context.RequestAborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Every proxied connection is recorded; one that cannot be is refused rather than proxied unseen.
            Log.ObserverUnavailable(logger, ex);
            await client.CloseOutputAsync(WebSocketCloseStatus.InternalServerError, "Recording unavailable", context.RequestAborted);
            return;
        }
        await new ProxyConnection(client, observer, services, logger).RunAsync(context.RequestAborted, services.Stopping);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Refused a WebSocket from origin {Origin}")]
        public static partial void OriginRefused(ILogger logger, string origin);

        [LoggerMessage(2, LogLevel.Error, "The proxy's observer could not open a record for a connection; refused it")]
        public static partial void ObserverUnavailable(ILogger logger, Exception exception);
    }
}
