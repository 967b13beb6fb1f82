using Microsoft.AspNetCore.Identity;

namespace Portal.Security;

/// <summary>A local account.</summary>
public sealed class PortalUser : IdentityUser
{
}

public static class PortalRoles
{
    public const string Admin = "admin";
    public const string User = "user";

    public static readonly IReadOnlyList<string> All = [Admin, User];
}
