namespace Portal.Security.Origins;

/// <summary>
/// Refuses, with 403 and before any endpoint runs (so before a WebSocket upgrade or a hub negotiation), requests under
/// the given paths whose Origin <see cref="PortalOriginPolicy"/> does not allow.
/// </summary>
internal sealed partial class AllowedOriginsMiddleware(RequestDelegate next, PortalOriginPolicy policy, IReadOnlyList<PathString> paths, ILogger<AllowedOriginsMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!Guards(context.Request.Path) || policy.IsAllowed(context.Request))
        {
            return next(context);
        }
        Log.Refused(logger, context.Request.Headers.Origin.ToString(), context.Request.Path.Value ?? "");
        return RefuseAsync(context);
    }

    internal static Task RefuseAsync(HttpContext context) =>
        Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Origin not allowed",
                detail: $"Connections from '{context.Request.Headers.Origin}' are not accepted. Portal's own pages, programs (no Origin) and the origins in {AllowedOriginsOptions.Section} are.")
            .ExecuteAsync(context);

    private bool Guards(PathString path)
    {
        foreach (var prefix in paths)
        {
            if (path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Refused a request from origin {Origin} to {Path}: not Portal's own origin nor in Portal:AllowedOrigins")]
        public static partial void Refused(ILogger logger, string origin, string path);
    }
}
