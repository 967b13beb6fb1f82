using Microsoft.AspNetCore.Components.Server.Circuits;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Portal.Admin;

public static class AdminServiceCollectionExtensions
{
    /// <summary>The admin's review of sessions, its audit, and the live status: their services and the circuit counter.</summary>
    public static IHostApplicationBuilder AddPortalAdmin(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<CircuitCounter>();
        services.TryAddEnumerable(ServiceDescriptor.Scoped<CircuitHandler, CountingCircuitHandler>());
        services.AddSingleton<StatusService>();
        services.AddSingleton<SessionReview>();
        services.AddSingleton<SessionReadAudit>();
        return builder;
    }
}
