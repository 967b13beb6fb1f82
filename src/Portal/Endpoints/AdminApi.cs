using Microsoft.AspNetCore.Http.HttpResults;
using Portal.Admin;
using Portal.Security;
using Portal.Security.Tokens;

namespace Portal.Endpoints;

/// <summary><c>/api/admin</c>: what the admin pages show, as JSON for admins and monitoring (admin role; a token needs the <c>admin</c> scope).</summary>
public static class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/admin").RequireAuthorization(SecurityServiceCollectionExtensions.AdminPolicy).RequireScope(ApiScopes.Admin).WithTags("Admin");
        api.MapGet("/status", GetStatus).WithName("GetStatus");
        return app;
    }

    /// <summary>The status page's live counts.</summary>
    internal static Ok<StatusSnapshot> GetStatus(StatusService status) => TypedResults.Ok(status.Read());
}
