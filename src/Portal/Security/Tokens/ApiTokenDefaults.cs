namespace Portal.Security.Tokens;

/// <summary>Names shared by the token handler, the scheme that picks it, and the endpoints that accept tokens.</summary>
public static class ApiTokenDefaults
{
    /// <summary>The authentication scheme (and identity authentication type) of API tokens.</summary>
    public const string Scheme = "ApiToken";

    public const string AuthenticationType = Scheme;

    /// <summary>Portal's default scheme: forwards to <see cref="Scheme"/> when a request carries a token, else to the sign-in cookie.</summary>
    public const string CookieOrToken = "CookieOrToken";

    /// <summary>The query parameter a browser WebSocket carries its token in (browsers cannot set headers on a WebSocket).</summary>
    public const string QueryParameter = "access_token";

    /// <summary>Every token starts with this, so a leaked one is recognisable (and findable by secret scanners).</summary>
    public const string Prefix = "ptl_";

    /// <summary>The claim naming the token a request was authenticated with (its id, not its secret).</summary>
    public const string TokenIdClaimType = "portal:token";

    /// <summary>
    /// Where tokens are accepted: the program-facing surface. Pages, the Blazor circuit and the account forms take the
    /// cookie only, so a token never drives the UI whatever its scopes.
    /// </summary>
    public static bool AcceptsTokens(PathString path) =>
        path.StartsWithSegments("/api") || path.StartsWithSegments("/sessions")
        || path.StartsWithSegments("/ws") || path.StartsWithSegments("/hubs");
}
