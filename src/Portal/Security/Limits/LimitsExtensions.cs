using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Portal.Proxy.Configuration;

namespace Portal.Security.Limits;

/// <summary>Registers and applies Portal's per-user and per-IP limits.</summary>
public static class LimitsExtensions
{
    public static IHostApplicationBuilder AddPortalLimits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.TryAddSingleton<ClientLimits>();
        builder.Services.TryAddSingleton<ApiRateLimit>();
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
        var api = app.ApplicationServices.GetRequiredService<ApiRateLimit>();
        app.Use(api.InvokeAsync);
        return app;
    }
}
