using System.Security.Claims;
using System.Text.Json.Serialization;
using Portal.Security;
using Portal.Security.Tokens;
using Portal.Sessions;

namespace Portal.Endpoints;

/// <summary><c>GET /sessions</c> in the shape seed 001's clients read, newest first.</summary>
public static class SeedSessionsApi
{
    public static IEndpointRouteBuilder MapSeedSessions(this IEndpointRouteBuilder app)
    {
        app.MapGet("/sessions", ListAsync).RequireScope(ApiScopes.Events).WithTags("Sessions");
        return app;
    }

    public sealed record SeedSession(
        [property: JsonPropertyName("session_id")] string SessionId,
        [property: JsonPropertyName("start_time")] DateTimeOffset StartTime,
        [property: JsonPropertyName("last_activity")] DateTimeOffset LastActivity,
        [property: JsonPropertyName("event_count")] long EventCount);

    public sealed record SeedSessionList([property: JsonPropertyName("sessions")] IReadOnlyList<SeedSession> Sessions);

    internal static async Task<SeedSessionList> ListAsync(ClaimsPrincipal user, ISessionStore store, HttpRequest request, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var limit = SessionApi.ParseInt(request.Query, "limit", 100, 1, SessionApi.MaxPageSize, errors);
        var page = await store.ListAsync(new SessionQuery
        {
            PageSize = limit,
            OwnerId = user.IsAdmin() ? null : user.UserId(),
        }, cancellationToken);
        return new SeedSessionList(page.Items.Select(s => new SeedSession(s.Id, s.CreatedAt, s.LastActivityAt, s.EventCount)).ToList());
    }
}
