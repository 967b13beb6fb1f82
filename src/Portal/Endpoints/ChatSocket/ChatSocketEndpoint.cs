using Microsoft.Extensions.Options;
using Portal.Agents.Runtime;
using Portal.Endpoints.Sockets;
using Portal.Security;
using Portal.Security.Limits;
using Portal.Security.Tokens;
using Portal.Sessions;

namespace Portal.Endpoints.ChatSocket;

/// <summary>
/// <c>/ws/chat</c>: the query/response protocol of seed 002 for programs. Each connection is a new <c>chat-ws</c>
/// session; <c>?agent=</c> picks its agent.
/// </summary>
public static class ChatSocketEndpoint
{
    public static IEndpointRouteBuilder MapChatSocket(this IEndpointRouteBuilder app, string path = "/ws/chat")
    {
        app.Map(path, HandleAsync).WithName("ChatSocket").ExcludeFromDescription();
        return app;
    }

    private static async Task HandleAsync(HttpContext context)
    {
        var options = context.RequestServices.GetRequiredService<IOptions<SocketOptions>>().Value;
        if (!await SocketOrigins.AdmitAsync(context, options, "/ws/chat", ApiScopes.Chat))
        {
            return;
        }
        var user = context.User;
        var services = context.RequestServices;
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveInterval * 2,
        });
        using var open = services.GetRequiredService<SocketConnections>().Open("/ws/chat");
        await using var connection = new ChatSocketConnection(socket, user,
            services.GetRequiredService<ISessionBus>(),
            services.GetRequiredService<AgentRuntime>(),
            services.GetRequiredService<SessionPresence>(),
            options,
            services.GetRequiredService<IOptions<ChatSocketOptions>>().Value,
            new FloodGuard(options, services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ClientLimits>().MessagesOf(user.UserId())),
            services.GetRequiredService<IOptions<SessionsOptions>>().Value,
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Portal.Endpoints.ChatSocket"));
        // Connections end with 1001 when Portal shuts down, not when Kestrel gives up waiting for them.
        await connection.RunAsync(context.Request.Query["agent"], services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping, context.RequestAborted);
    }
}
