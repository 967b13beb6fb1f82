using Microsoft.AspNetCore.Authorization;
using Portal.Endpoints.Sockets;
using Portal.Security.Tokens;

namespace Portal.Endpoints.Hub;

/// <summary>
/// Who may open <c>/hubs/session</c>, in one place: the policy guards the negotiate request and every transport
/// request (WebSockets, server-sent events, long polling) before SignalR sees them. Unauthenticated requests get 401,
/// a refused browser origin 403.
/// </summary>
public static class SessionHubAuthorization
{
    public const string Policy = "session-hub";

    /// <summary>
    /// A signed-in user or an API token with the <c>hub</c> scope (the participant is that user), from a browser origin
    /// <c>/ws/*</c> would accept too.
    /// </summary>
    internal static void Configure(AuthorizationPolicyBuilder policy) =>
        policy.RequireAuthenticatedUser()
            .AddRequirements(new AllowedOriginRequirement(), new ScopeRequirement(ApiScopes.Hub));
}

/// <summary>
/// The Origin check of the program-facing sockets (<see cref="SocketOrigins"/>), as a policy requirement: a page on
/// another site or port must not open a hub connection with the user's cookie.
/// </summary>
internal sealed class AllowedOriginRequirement : IAuthorizationRequirement;

internal sealed class AllowedOriginHandler : AuthorizationHandler<AllowedOriginRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AllowedOriginRequirement requirement)
    {
        if (context.Resource is not HttpContext http || SocketOrigins.IsAllowed(http))
        {
            context.Succeed(requirement);
        }
        return Task.CompletedTask;
    }
}
