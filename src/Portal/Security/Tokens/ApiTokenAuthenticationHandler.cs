using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Portal.Security.Tokens;

/// <summary>
/// Authenticates <c>Authorization: Bearer ptl_...</c>, and on WebSocket upgrades the <c>access_token</c> query value
/// (taken out of the query before anything logs it, see <see cref="QueryTokenScrubbing"/>). The principal carries the
/// owner's claims exactly as the sign-in cookie would (id, name, roles), so ownership checks work unchanged, plus one
/// <see cref="ApiScopes.ClaimType"/> claim per scope. A refused token is answered 401 with a problem saying why.
/// </summary>
internal sealed partial class ApiTokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IApiTokenStore tokens,
    UserManager<PortalUser> users,
    IUserClaimsPrincipalFactory<PortalUser> principals)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    /// <summary>The token a request presents, from the Authorization header or (WebSocket upgrades) the scrubbed query.</summary>
    internal static (string? Token, bool FromQuery) Find(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return (header["Bearer ".Length..].Trim(), false);
        }
        return (context.Features.Get<QueryAccessTokenFeature>()?.Token, true);
    }

    /// <summary>Whether the request carries a token at all (valid or not), so the token handler should answer it.</summary>
    internal static bool Presents(HttpContext context) => Find(context).Token is not null;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var (token, fromQuery) = Find(Context);
        if (token is null)
        {
            return AuthenticateResult.NoResult();
        }
        if (fromQuery && !Context.WebSockets.IsWebSocketRequest)
        {
            return Refuse(new ApiTokenProblem("Token in the query", $"The {ApiTokenDefaults.QueryParameter} query parameter is accepted on WebSocket upgrades only; send the token as 'Authorization: Bearer <token>'."));
        }
        var check = await tokens.CheckAsync(token, Context.RequestAborted);
        if (check.Rejection is { } rejection || check.Token is null)
        {
            return Refuse(ProblemFor(check.Rejection ?? ApiTokenRejection.Unknown, check.Token));
        }
        var user = await users.FindByIdAsync(check.Token.UserId);
        if (user is null)
        {
            return Refuse(ProblemFor(ApiTokenRejection.Unknown, null));
        }
        if (await users.IsLockedOutAsync(user))
        {
            return Refuse(ProblemFor(ApiTokenRejection.LockedOut, check.Token));
        }
        // The same claims the sign-in cookie holds, under this scheme's authentication type.
        var cookiePrincipal = await principals.CreateAsync(user);
        var source = cookiePrincipal.Identities.First();
        var identity = new ClaimsIdentity(source.Claims, ApiTokenDefaults.AuthenticationType, source.NameClaimType, source.RoleClaimType);
        identity.AddClaim(new Claim(ApiTokenDefaults.TokenIdClaimType, check.Token.Id));
        foreach (var scope in check.Token.Scopes)
        {
            identity.AddClaim(new Claim(ApiScopes.ClaimType, scope));
        }
        Log.Accepted(Logger, check.Token.Id, user.Id);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var problem = (result.Failure as ApiTokenRefusedException)?.Problem
            ?? new ApiTokenProblem("Sign in first", "Send a valid API token as 'Authorization: Bearer <token>', or sign in.");
        Response.Headers.WWWAuthenticate = $"Bearer error=\"invalid_token\", error_description=\"{problem.Title}\"";
        await problem.ToResult(StatusCodes.Status401Unauthorized).ExecuteAsync(Context);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        AccessProblems.Forbidden("Not allowed", "This token may not do this.").ExecuteAsync(Context);

    private AuthenticateResult Refuse(ApiTokenProblem problem)
    {
        Log.Refused(Logger, problem.Title);
        return AuthenticateResult.Fail(new ApiTokenRefusedException(problem));
    }

    private static ApiTokenProblem ProblemFor(ApiTokenRejection rejection, ApiTokenInfo? token) => rejection switch
    {
        ApiTokenRejection.Revoked => new("Token revoked",
            $"The token '{token?.Prefix}' was revoked on {Date(token?.RevokedAt)}. Create a new one at /settings/tokens."),
        ApiTokenRejection.Expired => new("Token expired",
            $"The token '{token?.Prefix}' expired on {Date(token?.ExpiresAt)}. Create a new one at /settings/tokens."),
        ApiTokenRejection.LockedOut => new("Account locked", "The account this token belongs to is locked out."),
        _ => new("Unknown token", "The token is not one Portal issued, or it was deleted. Tokens look like 'ptl_<id>_<secret>'."),
    };

    private static string Date(DateTimeOffset? time) => time?.UtcDateTime.ToString("u", CultureInfo.InvariantCulture) ?? "an unknown date";

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "API token {TokenId} of user {UserId} accepted")]
        public static partial void Accepted(ILogger logger, string tokenId, string userId);

        [LoggerMessage(2, LogLevel.Information, "API token refused: {Reason}")]
        public static partial void Refused(ILogger logger, string reason);
    }
}

/// <summary>Why a token was refused, as the 401 problem says it.</summary>
internal sealed record ApiTokenProblem(string Title, string Detail)
{
    public IResult ToResult(int status) => Results.Problem(statusCode: status, title: Title, detail: Detail);
}

/// <summary>Carries the refusal from authentication to the challenge (and to the WebSocket endpoints' checks).</summary>
internal sealed class ApiTokenRefusedException(ApiTokenProblem problem) : Exception(problem.Title)
{
    public ApiTokenProblem Problem { get; } = problem;
}
