using Microsoft.EntityFrameworkCore;

namespace Portal.Sessions.Storage;

/// <summary>
/// Before anything else starts (including the server): creates or migrates the database and marks sessions
/// that were live when the process last stopped as interrupted.
/// </summary>
internal sealed partial class DatabaseInitializer(
    IDbContextFactory<PortalDbContext> dbFactory,
    PortalDatabase database,
    ILogger<DatabaseInitializer> logger) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await database.MigrateAsync(db, cancellationToken);
        // Nothing is live before start-up: a session still "active" was cut off by a crash or a kill. Its row may
        // lag its events by up to a second (the writer touches rows once a second under load), so it is recounted.
        // The parts that own such sessions (chat runs, connections) finish their own recovery from this status.
        await db.Database.ExecuteSqlRawAsync(
            """
            UPDATE Sessions SET
                EventCount = coalesce((SELECT max(Seq) FROM SessionEvents e WHERE e.SessionKey = Sessions.Key), 0),
                LastActivityAt = max(LastActivityAt, coalesce((SELECT max(Time) FROM SessionEvents e WHERE e.SessionKey = Sessions.Key), 0))
            WHERE Status = 'active'
            """, cancellationToken);
        var interrupted = await db.Sessions
            .Where(s => s.Status == SessionStatuses.Active)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, SessionStatuses.Interrupted), cancellationToken);
        if (interrupted > 0)
        {
            Log.MarkedInterrupted(logger, interrupted);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "{Count} sessions were live when Portal last stopped; marked interrupted")]
        public static partial void MarkedInterrupted(ILogger logger, int count);
    }
}
