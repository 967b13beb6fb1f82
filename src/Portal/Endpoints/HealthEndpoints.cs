using Microsoft.Extensions.Diagnostics.HealthChecks;
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

    internal sealed class DatabaseHealthCheck(PortalDatabase database, DurableEventWriter writer) : IHealthCheck
    {
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
            return Task.FromResult(health.Failing
                ? HealthCheckResult.Degraded($"The event writer is retrying a failed batch ({health.LastError}); appends wait, nothing is dropped.")
                : HealthCheckResult.Healthy($"Database reachable; {health.EventsWritten} events written, {writer.QueueDepth} queued."));
        }
    }
}
