using Microsoft.EntityFrameworkCore;
using Portal.Sessions.Storage;

namespace Portal.Sessions;

public static class SessionsServiceCollectionExtensions
{
    /// <summary>The session event log: SQLite store, durable writer, bus and queries.</summary>
    public static IHostApplicationBuilder AddSessions(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<SessionsOptions>()
            .BindConfiguration(SessionsOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<PortalDatabase>();
        services.AddDbContextFactory<PortalDbContext>((sp, options) =>
            options.UseSqlite(sp.GetRequiredService<PortalDatabase>().ConnectionString));

        // Order matters: the database is ready before anything starts, and the writer flushes after the rest stopped.
        services.AddHostedService<DatabaseInitializer>();
        services.AddSingleton<DurableEventWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<DurableEventWriter>());

        services.AddSingleton<SessionBus>();
        services.AddSingleton<ISessionBus>(sp => sp.GetRequiredService<SessionBus>());
        services.AddSingleton<ISessionStore, SessionStore>();
        return builder;
    }
}
