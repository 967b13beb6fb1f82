namespace Portal.Components.Layout;

/// <summary>Portal's two Radzen themes; the choice is kept in a cookie so the first paint already has it.</summary>
public static class PortalThemes
{
    public const string Light = "material";
    public const string Dark = "material-dark";
    public const string Cookie = "portal-theme";

    /// <summary>The theme the request's cookie names, or the light one.</summary>
    public static string From(HttpContext? context) =>
        context?.Request.Cookies[Cookie] == Dark ? Dark : Light;
}
