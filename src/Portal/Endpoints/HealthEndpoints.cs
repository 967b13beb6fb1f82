using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Portal.Sessions;
using Portal.Sessions.Storage;

namespace Portal.Endpoints;

/// <summary><c>/health</c> answers while the process runs; <c>/health/ready</c> also checks the database and the writer.</summary>
public static class HealthEndpoints
{
    private const string ReadyTag = "ready";

    public static IHostApplicationBuilder AddPortalHealthChecks(this IHostApplicationBuilder builder)
    {
        builder.Services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: [ReadyTag]);
        return builder;
    }

    public static IEndpointRouteBuilder MapPortalHealth(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health", new() { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new()
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = WriteReadyAsync,
        });
        return app;
    }

    private static Task WriteReadyAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        });
    }

    /// <summary>
    /// Healthy while events reach the database; degraded while the writer retries a failed batch (a locked database, a
    /// full disk) or its queue is full (appends wait); unhealthy when the database cannot be read, or the writer has been
    /// failing for <see cref="UnhealthyAfter"/>. Nothing is dropped in any of these states.
    /// </summary>
    internal sealed class DatabaseHealthCheck(PortalDatabase database, DurableEventWriter writer, IOptions<SessionsOptions> options) : IHealthCheck
    {
        public static readonly TimeSpan UnhealthyAfter = TimeSpan.FromMinutes(1);

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                using var connection = database.OpenConnection();
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT count(*) FROM __EFMigrationsHistory";
                command.ExecuteScalar();
            }
            catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException or InvalidOperationException)
            {
                return Task.FromResult(HealthCheckResult.Unhealthy($"The database cannot be read: {ex.Message}"));
            }
            var health = writer.Health;
            var queued = writer.QueueDepth;
            var capacity = options.Value.WriterQueueCapacity;
            if (health.Failing)
            {
                var failing = health.FailingFor;
                var description = $"The event writer has been retrying a failed batch for {failing.TotalSeconds:0} s ({health.LastError}); " +
                    $"{queued} of {capacity} events queued; appends wait when the queue is full, nothing is dropped.";
                return Task.FromResult(failing >= UnhealthyAfter ? HealthCheckResult.Unhealthy(description) : HealthCheckResult.Degraded(description));
            }
            if (health.Backpressured || queued >= capacity)
            {
                return Task.FromResult(HealthCheckResult.Degraded(
                    $"The event writer's queue was full within the last second ({queued} of {capacity} events queued now): appends wait for room, nothing is dropped."));
            }
            return Task.FromResult(HealthCheckResult.Healthy($"Database reachable; {health.EventsWritten} events written, {queued} queued."));
        }
    }
}
