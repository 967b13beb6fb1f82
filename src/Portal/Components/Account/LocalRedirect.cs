using Microsoft.AspNetCore.Components;

namespace Portal.Components.Account;

internal static class LocalRedirect
{
    /// <summary>A return URL that stays on this site ("/..." but not "//host" or "/\host"); anything else becomes "/".</summary>
    public static string Sanitize(string? returnUrl) =>
        !string.IsNullOrEmpty(returnUrl) && returnUrl[0] == '/' && (returnUrl.Length == 1 || returnUrl[1] is not ('/' or '\\'))
            ? returnUrl
            : "/";

    public static void To(NavigationManager navigation, string? returnUrl) => navigation.NavigateTo(Sanitize(returnUrl));
}
