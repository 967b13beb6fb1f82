using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;

namespace Portal.Security.Tokens;

/// <summary>The problems a program gets when it may not in: one wording for the REST API, the sockets and the hub.</summary>
public static class AccessProblems
{
    public static IResult SignInFirst(string endpoint, string? scope) => Results.Problem(
        statusCode: StatusCodes.Status401Unauthorized,
        title: "Sign in first",
        detail: scope is null
            ? $"{endpoint} needs a signed-in session cookie or an API token ('Authorization: Bearer <token>')."
            : $"{endpoint} needs a signed-in session cookie or an API token with the scope '{scope}' ('Authorization: Bearer <token>').");

    public static IResult MissingScope(string endpoint, string scope) => Forbidden(
        "Missing scope",
        $"{endpoint} needs the scope '{scope}', which this token does not have. Create a token with it at /settings/tokens.");

    public static IResult AdminsOnly(string endpoint) => Forbidden("Admins only", $"{endpoint} is for administrators.");

    public static IResult Forbidden(string title, string detail) =>
        Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: title, detail: detail);

    /// <summary>
    /// The checks of an endpoint that reads credentials itself (the WebSocket endpoints, to keep their 400/403/401
    /// order): 401 without credentials or with a refused token (saying why), 403 with a token that lacks
    /// <paramref name="scope"/>. True when the request may go on.
    /// </summary>
    public static async Task<bool> CheckAsync(HttpContext context, string endpoint, string scope)
    {
        if (context.User.Identity?.IsAuthenticated != true)
        {
            if (ApiTokenAuthenticationHandler.Presents(context))
            {
                await context.ChallengeAsync(ApiTokenDefaults.Scheme); // 401 with the reason the token was refused
            }
            else
            {
                await SignInFirst(endpoint, scope).ExecuteAsync(context);
            }
            return false;
        }
        if (!context.User.HasScope(scope))
        {
            await MissingScope(endpoint, scope).ExecuteAsync(context);
            return false;
        }
        return true;
    }
}

/// <summary>
/// Answers refused API requests (<c>/api</c>, <c>/sessions</c>, <c>/ws</c>, <c>/hubs</c>) with problems instead of the
/// cookie's bare status codes: 401 naming how to authenticate, 403 naming the missing scope or role. Pages keep the
/// redirects to the sign-in and access-denied pages.
/// </summary>
internal sealed class ProblemAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (!ApiTokenDefaults.AcceptsTokens(context.Request.Path) || authorizeResult.Succeeded)
        {
            await _default.HandleAsync(next, context, policy, authorizeResult);
            return;
        }
        var endpoint = context.Request.Path.Value ?? "";
        var scope = policy.Requirements.OfType<ScopeRequirement>().FirstOrDefault()?.Scope;
        if (authorizeResult.Challenged)
        {
            if (ApiTokenAuthenticationHandler.Presents(context))
            {
                await context.ChallengeAsync(ApiTokenDefaults.Scheme); // says why the token was refused
                return;
            }
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await AccessProblems.SignInFirst(endpoint, scope).ExecuteAsync(context);
            return;
        }
        var failed = authorizeResult.AuthorizationFailure?.FailedRequirements.ToList() ?? [];
        if (failed.OfType<RolesAuthorizationRequirement>().Any())
        {
            await AccessProblems.AdminsOnly(endpoint).ExecuteAsync(context);
        }
        else if (failed.OfType<ScopeRequirement>().FirstOrDefault() is { } missing)
        {
            await AccessProblems.MissingScope(endpoint, missing.Scope).ExecuteAsync(context);
        }
        else
        {
            await _default.HandleAsync(next, context, policy, authorizeResult);
        }
    }
}
