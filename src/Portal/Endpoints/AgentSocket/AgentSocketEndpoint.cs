using System.Globalization;
using Microsoft.Extensions.Options;
using Portal.Admin;
using Portal.Agents.Runtime;
using Portal.Endpoints.Sockets;
using Portal.Security;
using Portal.Security.Limits;
using Portal.Security.Tokens;
using Portal.Sessions;

namespace Portal.Endpoints.AgentSocket;

/// <summary>
/// <c>/ws/agent</c>: the agent loop protocol of seed 001 for programs. <c>?sessionId=&amp;afterSeq=</c> resumes a session
/// (as the <c>resume</c> frame does); <c>?agent=</c> picks the agent of a new one.
/// </summary>
public static class AgentSocketEndpoint
{
    public static IEndpointRouteBuilder MapAgentSocket(this IEndpointRouteBuilder app, string path = "/ws/agent")
    {
        app.Map(path, HandleAsync).WithName("AgentSocket").ExcludeFromDescription();
        return app;
    }

    private static async Task HandleAsync(HttpContext context)
    {
        var options = context.RequestServices.GetRequiredService<IOptions<SocketOptions>>().Value;
        if (!await SocketOrigins.AdmitAsync(context, options, "/ws/agent", ApiScopes.Agent))
        {
            return;
        }
        var user = context.User;
        var services = context.RequestServices;
        var query = context.Request.Query;
        SessionInfo? resume = null;
        long afterSeq = 0;
        if (query["afterSeq"] is { Count: > 0 } after && !(long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out afterSeq)))
        {
            await Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad afterSeq", detail: "afterSeq must be a whole number, 0 or more.").ExecuteAsync(context);
            return;
        }
        if (query["sessionId"] is { Count: > 0 } sessionId)
        {
            resume = await services.GetRequiredService<ISessionStore>().GetAsync(sessionId.ToString(), context.RequestAborted);
            if (resume is null || !AgentSocketConnection.CanFollow(user, resume))
            {
                await Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such session",
                    detail: "There is no agent session of yours with this id.").ExecuteAsync(context);
                return;
            }
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveInterval * 2,
        });
        using var open = services.GetRequiredService<SocketConnections>().Open("/ws/agent");
        await using var connection = new AgentSocketConnection(socket, user,
            services.GetRequiredService<ISessionBus>(),
            services.GetRequiredService<ISessionStore>(),
            services.GetRequiredService<AgentRuntime>(),
            services.GetRequiredService<SessionPresence>(),
            services.GetRequiredService<SessionReadAudit>(),
            options,
            services.GetRequiredService<IOptions<SessionsOptions>>().Value,
            new FloodGuard(options, services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ClientLimits>().MessagesOf(user.UserId())),
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Portal.Endpoints.AgentSocket"));
        // Connections end with 1001 when Portal shuts down, not when Kestrel gives up waiting for them.
        await connection.RunAsync(resume, afterSeq, query["agent"], services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping, context.RequestAborted);
    }
}
