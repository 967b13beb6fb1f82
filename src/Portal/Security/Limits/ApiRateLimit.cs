using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;

namespace Portal.Security.Limits;

/// <summary>
/// The limit on <c>/api</c> requests per user (per address when signed out), a sliding minute. Portal's own rather than
/// ASP.NET Core's rate-limiting middleware, which builds a partitioned limiter of its own for endpoint policies (Portal
/// has none) and never disposes it or the global one: their timers kept every stopped host's whole pipeline alive
/// (290 hosts, about 560 MiB, in one run of the integration tests). A singleton, so the host disposes it when it stops.
/// </summary>
internal sealed class ApiRateLimit(ClientLimits limits) : IDisposable
{
    private readonly PartitionedRateLimiter<HttpContext> _limiter = PartitionedRateLimiter.Create<HttpContext, string>(context => Partition(context, limits));

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        using var lease = await _limiter.AcquireAsync(context, permitCount: 1, context.RequestAborted);
        if (!lease.IsAcquired)
        {
            limits.CountRefusal(LimitKind.ApiRequestsPerMinute);
            var retry = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMinutes(1);
            var perMinute = limits.Current.ApiRequestsPerMinute;
            await LimitsMiddleware.RefuseAsync(context, new LimitRefusal(LimitKind.ApiRequestsPerMinute, perMinute, retry,
                string.Create(CultureInfo.InvariantCulture, $"At most {perMinute} API requests a minute per user (or address, signed out). Try again in {Math.Ceiling(retry.TotalSeconds):0} s.")));
            return;
        }
        await next(context);
    }

    public void Dispose() => _limiter.Dispose();

    private static RateLimitPartition<string> Partition(HttpContext context, ClientLimits limits)
    {
        if (!context.Request.Path.StartsWithSegments("/api"))
        {
            return RateLimitPartition.GetNoLimiter("");
        }
        var perMinute = limits.Current.ApiRequestsPerMinute;
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
