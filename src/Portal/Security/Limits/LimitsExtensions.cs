using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Portal.Proxy.Configuration;

namespace Portal.Security.Limits;

/// <summary>Registers and applies Portal's per-user and per-IP limits.</summary>
public static class LimitsExtensions
{
    public static IHostApplicationBuilder AddPortalLimits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<ClientLimits>();
        builder.Services.AddRateLimiter(options =>
        {
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(ApiPartition);
            options.OnRejected = async (rejected, cancellationToken) =>
            {
                var context = rejected.HttpContext;
                var limits = context.RequestServices.GetRequiredService<ClientLimits>();
                limits.CountRefusal(LimitKind.ApiRequestsPerMinute);
                var retry = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMinutes(1);
                var perMinute = limits.Current.ApiRequestsPerMinute;
                await LimitsMiddleware.RefuseAsync(context, new LimitRefusal(LimitKind.ApiRequestsPerMinute, perMinute, retry,
                    string.Create(CultureInfo.InvariantCulture, $"At most {perMinute} API requests a minute per user (or address, signed out). Try again in {Math.Ceiling(retry.TotalSeconds):0} s.")));
            };
        });
        return builder;
    }

    /// <summary>Limits the WebSocket endpoints of the CES listener port (<c>WEBSOCKET_SERVER_PORT</c>); call it before <c>UseCesProxyListener</c>.</summary>
    public static IApplicationBuilder UsePortalLimitsOnCesListener(this IApplicationBuilder app)
    {
        var port = app.ApplicationServices.GetRequiredService<IOptions<CesProxyOptions>>().Value.WebSocketServerPort;
        return port is null ? app : app.UseWhen(context => context.Connection.LocalPort == port,
            branch => branch.UseMiddleware<LimitsMiddleware>(new LimitsMiddleware.Listener(port)));
    }

    /// <summary>Limits connections, new sessions and API requests; call it after authentication, so users are known, and before authorization, so refused credentials count too.</summary>
    public static IApplicationBuilder UsePortalLimits(this IApplicationBuilder app)
    {
        app.UseMiddleware<LimitsMiddleware>(new LimitsMiddleware.Listener(null));
        app.UseRateLimiter();
        return app;
    }

    private static RateLimitPartition<string> ApiPartition(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/api"))
        {
            return RateLimitPartition.GetNoLimiter("");
        }
        var perMinute = context.RequestServices.GetRequiredService<ClientLimits>().Current.ApiRequestsPerMinute;
        if (perMinute <= 0)
        {
            return RateLimitPartition.GetNoLimiter("");
        }
        var key = context.User.Identity?.IsAuthenticated == true
            ? "u|" + context.User.FindFirstValue(ClaimTypes.NameIdentifier)
            : "ip|" + ClientLimits.AddressKey(context.Connection.RemoteIpAddress);
        return RateLimitPartition.GetSlidingWindowLimiter($"{key}|{perMinute}", _ => new SlidingWindowRateLimiterOptions
        {
            PermitLimit = perMinute,
            Window = TimeSpan.FromMinutes(1),
            SegmentsPerWindow = 6,
            QueueLimit = 0,
        });
    }
}
