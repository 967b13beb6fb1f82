using System.Security.Claims;
using Portal.Sessions;

namespace Portal.Security;

/// <summary>Who may see a session: its owner, and administrators.</summary>
public static class SessionAccess
{
    public static string? UserId(this ClaimsPrincipal user) => user.FindFirstValue(ClaimTypes.NameIdentifier);

    public static bool IsAdmin(this ClaimsPrincipal user) => user.IsInRole(PortalRoles.Admin);

    public static bool CanRead(this ClaimsPrincipal user, SessionInfo session) =>
        user.IsAdmin() || (session.OwnerId is not null && session.OwnerId == user.UserId());
}
