using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Proxy.Authentication;
using Portal.Proxy.Configuration;
using Portal.Proxy.Forwarding;
using Portal.Proxy.Telemetry;

namespace Portal.Proxy;

/// <summary>Entry points that add the CES proxy to a host, in the style of YARP's AddReverseProxy/MapReverseProxy.</summary>
public static partial class CesProxyExtensions
{
    /// <summary>
    /// Registers the CES proxy: options from the <c>CesProxy</c> section and the reference's environment variables,
    /// token minting with Google Application Default Credentials, metrics, and a do-nothing observer that a host
    /// replaces by registering its own <see cref="ICesProxyObserver"/>.
    /// </summary>
    public static IServiceCollection AddCesProxy(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<CesProxyOptions>()
            .Configure<IConfiguration>(SeedVariables.Apply)
            .BindConfiguration(CesProxyOptions.Section)
            .ValidateDataAnnotations()
            .Validate(CesProxyOptionsValidation.IsValid, CesProxyOptionsValidation.Message)
            .ValidateOnStart();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ProxyMetrics>();
        services.TryAddSingleton<ITokenMinter, GoogleTokenMinter>();
        services.TryAddSingleton<IAccessTokenSource, CachingAccessTokenSource>();
        services.TryAddSingleton<UpstreamConnector>();
        services.TryAddSingleton<ICesProxyObserver, NullCesProxyObserver>();
        services.TryAddSingleton<ProxyServices>();
        services.AddHttpClient(TextModeProxy.ClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AutomaticDecompression = System.Net.DecompressionMethods.All,
                UseCookies = false,
                AllowAutoRedirect = false,
            })
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan); // the proxy applies its own timeout
        return services;
    }

    /// <summary>
    /// Maps the proxy at <paramref name="pattern"/>: the widget's WebSocket (<c>api-uri="wss://host{pattern}"</c>)
    /// and text mode below it (<c>{pattern}/v1/...</c>, <c>api-uri="https://host{pattern}"</c>).
    /// </summary>
    public static IEndpointConventionBuilder MapCesProxy(this IEndpointRouteBuilder endpoints, string pattern)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        WarnOnOpenOrigins(endpoints.ServiceProvider);
        // The WebSocket middleware is part of the endpoint, so the host need not remember UseWebSockets().
        var webSocket = endpoints.CreateApplicationBuilder().UseWebSockets();
        webSocket.Run(CesWebSocketEndpoint.HandleAsync);
        var group = endpoints.MapGroup(pattern);
        group.Map("", webSocket.Build()).WithDisplayName("CES proxy WebSocket");
        group.Map("{**path}", TextModeProxy.HandleAsync).WithDisplayName("CES proxy text mode");
        return group;
    }

    /// <summary>
    /// When <c>WEBSOCKET_SERVER_PORT</c> (or <c>CesProxy:WebSocketServerPort</c>) is set, answers the widget at
    /// <c>/</c> on that port, as the reference proxy does; call it before other middleware. The host must listen on
    /// that port too: see <see cref="UseCesProxyListener(IWebHostBuilder, IConfiguration)"/>.
    /// </summary>
    public static IApplicationBuilder UseCesProxyListener(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var port = app.ApplicationServices.GetRequiredService<IOptions<CesProxyOptions>>().Value.WebSocketServerPort;
        if (port is null)
        {
            return app;
        }
        return app.MapWhen(context => context.Connection.LocalPort == port, branch => branch
            .UseWebSockets()
            .Run(context => context.Request.Path == "/"
                ? CesWebSocketEndpoint.HandleAsync(context)
                : Results.NotFound().ExecuteAsync(context)));
    }

    /// <summary>
    /// Adds <c>http://{CesProxy:WebSocketServerHost}:{WEBSOCKET_SERVER_PORT}</c> (all interfaces unless set) to the
    /// addresses the host listens on, when that port is set.
    /// </summary>
    public static IWebHostBuilder UseCesProxyListener(this IWebHostBuilder webHost, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(webHost);
        ArgumentNullException.ThrowIfNull(configuration);
        var port = configuration[$"{CesProxyOptions.Section}:{nameof(CesProxyOptions.WebSocketServerPort)}"] ?? configuration["WEBSOCKET_SERVER_PORT"];
        if (string.IsNullOrWhiteSpace(port))
        {
            return webHost;
        }
        var host = configuration[$"{CesProxyOptions.Section}:{nameof(CesProxyOptions.WebSocketServerHost)}"] ?? "0.0.0.0";
        var listener = string.Create(CultureInfo.InvariantCulture, $"http://{host}:{int.Parse(port, CultureInfo.InvariantCulture)}");
        var urls = webHost.GetSetting(WebHostDefaults.ServerUrlsKey);
        return webHost.UseUrls(string.IsNullOrWhiteSpace(urls) ? listener : urls + ";" + listener);
    }

    private static void WarnOnOpenOrigins(IServiceProvider services)
    {
        var proxy = services.GetRequiredService<ProxyServices>();
        if (proxy.Origins.AllowsEveryOrigin)
        {
            Log.EveryOriginAllowed(services.GetRequiredService<ILoggerFactory>().CreateLogger("Portal.Proxy"));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "AUTHORIZED_ORIGINS is not set: the CES proxy accepts every origin. Set it (semicolon-separated) to restrict access.")]
        public static partial void EveryOriginAllowed(ILogger logger);
    }
}
