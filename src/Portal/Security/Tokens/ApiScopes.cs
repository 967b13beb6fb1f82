using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;

namespace Portal.Security.Tokens;

/// <summary>
/// What an API token may do. A person signed in with the cookie has every scope their role allows; a token has only
/// the scopes it was created with. Endpoints name the scope they need with <see cref="RequireScope{TBuilder}"/>.
/// </summary>
public static class ApiScopes
{
    /// <summary><c>/ws/agent</c>.</summary>
    public const string Agent = "agent";
    /// <summary><c>/ws/chat</c>.</summary>
    public const string Chat = "chat";
    /// <summary><c>/hubs/session</c>.</summary>
    public const string Hub = "hub";
    /// <summary>Reading sessions and their events: <c>/api/sessions</c>, <c>/sessions</c>.</summary>
    public const string Events = "events";
    /// <summary>The admin API (<c>/api/admin</c>, deleting sessions); only admins can grant it, and it needs the admin role too.</summary>
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [Agent, Chat, Hub, Events, Admin];

    /// <summary>One claim of this type per scope on a token's principal.</summary>
    public const string ClaimType = "portal:scope";

    public static bool IsKnown(string? scope) => scope is not null && All.Contains(scope);

    public static string PolicyName(string scope) => "scope:" + scope;

    /// <summary>The scopes <paramref name="user"/> may put on a token of their own.</summary>
    public static IReadOnlyList<string> GrantableBy(ClaimsPrincipal user) => user.IsAdmin() ? All : [.. All.Where(s => s != Admin)];

    /// <summary>Whether the request was authenticated with an API token rather than the sign-in cookie.</summary>
    public static bool IsApiToken(this ClaimsPrincipal user) =>
        user.Identities.Any(i => i.IsAuthenticated && i.AuthenticationType == ApiTokenDefaults.AuthenticationType);

    /// <summary>Signed in with the cookie, or holding a token with <paramref name="scope"/>.</summary>
    public static bool HasScope(this ClaimsPrincipal user, string scope) =>
        user.Identity?.IsAuthenticated == true && (!user.IsApiToken() || user.HasClaim(ApiScopes.ClaimType, scope));

    /// <summary>
    /// The endpoint needs a signed-in cookie or a token with <paramref name="scope"/>: 401 without either, 403 (a
    /// problem naming the scope) with a token that lacks it.
    /// </summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope) where TBuilder : IEndpointConventionBuilder
    {
        if (!IsKnown(scope))
        {
            throw new ArgumentException($"Unknown scope '{scope}'; one of {string.Join(", ", All)}.", nameof(scope));
        }
        return builder.RequireAuthorization(PolicyName(scope));
    }

    internal static void AddPolicies(AuthorizationOptions options)
    {
        foreach (var scope in All)
        {
            options.AddPolicy(PolicyName(scope), policy => policy.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(scope)));
        }
    }
}

/// <summary>The requirement behind <see cref="ApiScopes.RequireScope{TBuilder}"/>.</summary>
public sealed class ScopeRequirement(string scope) : AuthorizationHandler<ScopeRequirement>, IAuthorizationRequirement
{
    public string Scope { get; } = scope;

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
    {
        // No explicit Fail: an unmet requirement stays in FailedRequirements, where the 403 problem finds its scope.
        if (context.User.HasScope(requirement.Scope))
        {
            context.Succeed(requirement);
        }
        return Task.CompletedTask;
    }

    public override string ToString() => $"Scope {Scope}";
}
