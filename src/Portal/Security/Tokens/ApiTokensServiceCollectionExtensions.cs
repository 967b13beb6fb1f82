using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;

namespace Portal.Security.Tokens;

public static class ApiTokensServiceCollectionExtensions
{
    /// <summary>
    /// API tokens for programs: the store, the Bearer / <c>access_token</c> handler, the <see cref="ApiTokenDefaults.CookieOrToken"/>
    /// scheme that picks the token or the cookie per request, one authorization policy per scope, problem answers for
    /// refused API requests, and the server wrapper that keeps <c>access_token</c> out of every log.
    /// </summary>
    public static IHostApplicationBuilder AddApiTokens(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<IApiTokenStore, ApiTokenStore>();
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ApiTokenAuthenticationHandler>(ApiTokenDefaults.Scheme, displayName: null, configureOptions: null)
            .AddPolicyScheme(ApiTokenDefaults.CookieOrToken, "Sign-in cookie or API token", options =>
                options.ForwardDefaultSelector = context =>
                    ApiTokenDefaults.AcceptsTokens(context.Request.Path) && ApiTokenAuthenticationHandler.Presents(context)
                        ? ApiTokenDefaults.Scheme
                        : IdentityConstants.ApplicationScheme);
        services.AddAuthorization(ApiScopes.AddPolicies);
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, ProblemAuthorizationResultHandler>();
        services.AddQueryTokenScrubbing();
        return builder;
    }
}
