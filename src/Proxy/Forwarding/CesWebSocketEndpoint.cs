using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
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

        // The upgrade is done here rather than by AcceptWebSocketAsync: the proxy relays frames as bytes (FrameRelay).
        var client = new RelaySocket(await AcceptAsync(context), isServer: true, [], context.Abort, services.Time);
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
            await client.DrainAsync(services.Options.CloseTimeout);
            client.Release();
            return;
        }
        await new ProxyConnection(client, observer, services, logger).RunAsync(context.RequestAborted, services.Stopping);
    }

    /// <summary>
    /// Completes the WebSocket handshake (RFC 6455 4.2.2 over HTTP/1.1, RFC 8441 over HTTP/2) without an extension or
    /// subprotocol, and returns the upgraded connection. The request was checked by <c>IsWebSocketRequest</c>.
    /// </summary>
    private static async Task<Stream> AcceptAsync(HttpContext context)
    {
        if (context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
        {
            return await connect.AcceptAsync();
        }
        var upgrade = context.Features.GetRequiredFeature<IHttpUpgradeFeature>();
        context.Response.Headers.Connection = "Upgrade";
        context.Response.Headers.Upgrade = "websocket";
        context.Response.Headers.SecWebSocketAccept = Frames.AcceptKey(context.Request.Headers.SecWebSocketKey.ToString());
        return await upgrade.UpgradeAsync();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Refused a WebSocket from origin {Origin}")]
        public static partial void OriginRefused(ILogger logger, string origin);

        [LoggerMessage(2, LogLevel.Error, "The proxy's observer could not open a record for a connection; refused it")]
        public static partial void ObserverUnavailable(ILogger logger, Exception exception);
    }
}
