using Microsoft.AspNetCore.Components.Server.Circuits;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Portal.Security;

namespace Portal.Admin;

public static class AdminServiceCollectionExtensions
{
    /// <summary>The admin's review of sessions and the live status: their services and the circuit counter.</summary>
    public static IHostApplicationBuilder AddPortalAdmin(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<CircuitCounter>();
        services.TryAddEnumerable(ServiceDescriptor.Scoped<CircuitHandler, CountingCircuitHandler>());
        services.AddSingleton<StatusService>();
        services.AddSingleton<SessionReview>();
        return builder;
    }

    /// <summary><c>GET /api/admin/status</c>: the status page's counts as JSON, for admins and monitoring.</summary>
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/admin").RequireAuthorization(SecurityServiceCollectionExtensions.AdminPolicy).WithTags("Admin");
        api.MapGet("/status", GetStatus).WithName("GetStatus");
        return app;
    }

    internal static Ok<StatusSnapshot> GetStatus(StatusService status) => TypedResults.Ok(status.Read());
}
