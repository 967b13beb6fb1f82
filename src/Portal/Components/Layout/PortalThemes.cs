namespace Portal.Components.Layout;

/// <summary>
/// Portal's two Radzen themes. A choice made with the toggle is kept in a cookie so the first paint already has it;
/// until then Portal follows the system's light or dark setting where the browser says what it is (the
/// <c>Sec-CH-Prefers-Color-Scheme</c> client hint: Chromium-based browsers, over HTTPS or on loopback). The page is
/// served in its theme, so it never paints in the other one first.
/// </summary>
public static class PortalThemes
{
    public const string Light = "material";
    public const string Dark = "material-dark";
    public const string Cookie = "portal-theme";
    public const string PreferenceHint = "Sec-CH-Prefers-Color-Scheme";

    /// <summary>The theme the request's cookie names; without one, the system's as the client hint gives it; else the light one.</summary>
    public static string From(HttpContext? context)
    {
        if (context is null)
        {
            return Light;
        }
        if (context.Request.Cookies[Cookie] is { } chosen)
        {
            return chosen == Dark ? Dark : Light;
        }
        return context.Request.Headers[PreferenceHint].ToString().Trim().Trim('"') == "dark" ? Dark : Light;
    }

    /// <summary>
    /// Asks the browser to send the system's setting with its next requests, on a page rendered without a chosen theme:
    /// a new visitor's first page is light, every page after it follows the system. (<c>Critical-CH</c>, which should
    /// have Chromium repeat that first request with the hint, was tried: Chromium 156 repeated it without the hint.)
    /// <c>Vary</c> keeps caches from serving one theme's page for the other.
    /// </summary>
    public static void AskForPreference(HttpContext context)
    {
        if (context.Response.HasStarted || context.Request.Cookies.ContainsKey(Cookie))
        {
            return;
        }
        context.Response.Headers["Accept-CH"] = PreferenceHint;
        context.Response.Headers.Append("Vary", PreferenceHint);
    }
}
