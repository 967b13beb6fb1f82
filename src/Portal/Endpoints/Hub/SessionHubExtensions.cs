using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Portal.Endpoints.Sockets;

namespace Portal.Endpoints.Hub;

public static class SessionHubExtensions
{
    public const string DefaultPath = "/hubs/session";

    /// <summary>
    /// The participant hub: its options (<c>Portal:Hub</c>), SignalR settings for it alone, the participants, the access
    /// policy. Needs the session log (<c>AddSessions</c>) and Portal's limits (<c>AddPortalLimits</c>).
    /// </summary>
    public static IHostApplicationBuilder AddSessionHub(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<SessionHubOptions>()
            .BindConfiguration(SessionHubOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<SocketOptions>().BindConfiguration(SocketOptions.Section);

        // HubOptions<SessionHub> starts from the global HubOptions; what is set here applies to this hub only, not to
        // Blazor's circuits.
        services.AddSignalR().AddHubOptions<SessionHub>(_ => { });
        services.AddOptions<HubOptions<SessionHub>>().Configure<IOptions<SessionHubOptions>>((hub, options) =>
        {
            var o = options.Value;
            hub.MaximumReceiveMessageSize = o.MaxMessageBytes;
            hub.KeepAliveInterval = o.KeepAliveInterval;
            hub.ClientTimeoutInterval = o.ClientTimeout;
            hub.HandshakeTimeout = o.HandshakeTimeout;
            // One call at a time per connection: events a connection sends are stored in the order it sent them.
            hub.MaximumParallelInvocationsPerClient = 1;
            // SignalR's own errors (unknown method, wrong argument count, unreadable or oversized message) then say
            // what was wrong; failures inside Portal never get this far (SessionHubFilter answers internal_error).
            hub.EnableDetailedErrors = true;
            hub.AddFilter<SessionHubFilter>();
        });

        // SignalR logs every exception a hub method throws as an error with its stack, HubExceptions included; here
        // those are refused calls, already recorded in the session and answered with an error. Failures inside Portal
        // are logged by SessionHubFilter. (Blazor's circuit hub reports its own failures through Components loggers.)
        builder.Logging.AddFilter("Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher", LogLevel.Critical);

        // Calls SignalR cannot bind (unknown method, wrong arguments) are answered by SignalR itself and logged only at
        // Debug, in the category silenced above; this reports the first of each connection as a warning.
        services.AddSingleton<HubLifetimeManager<SessionHub>, SessionHubLifetimeManager>();

        services.TryAddSingleton<SessionPresence>();
        services.TryAddSingleton<SocketConnections>();
        services.TryAddSingleton<HubParticipants>();
        services.TryAddSingleton<SessionHubFilter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAuthorizationHandler, AllowedOriginHandler>());
        services.AddAuthorizationBuilder().AddPolicy(SessionHubAuthorization.Policy, SessionHubAuthorization.Configure);
        return builder;
    }

    /// <summary>Maps the participant hub at <paramref name="path"/>, open to what <see cref="SessionHubAuthorization.Policy"/> admits.</summary>
    public static IEndpointRouteBuilder MapSessionHub(this IEndpointRouteBuilder app, string path = DefaultPath)
    {
        app.MapHub<SessionHub>(path, options =>
            {
                // A connection whose sign-in (or, later, token) expires is closed rather than kept open on stale rights.
                options.CloseOnAuthenticationExpiration = true;
            })
            .RequireAuthorization(SessionHubAuthorization.Policy);
        return app;
    }
}
