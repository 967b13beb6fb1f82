using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Portal.Admin;
using Portal.Security;
using Portal.Security.Tokens;
using Portal.Sessions;
using Portal.Sessions.Export;

namespace Portal.Endpoints;

/// <summary>
/// REST access to sessions and their events: <c>/api/sessions</c>. Users see their own sessions, admins all; only admins
/// delete. Reads take the sign-in cookie or a token with the <c>events</c> scope; deleting, the admin role and the
/// <c>admin</c> scope. An admin reading someone else's events or export leaves an audit event in that session.
/// </summary>
public static class SessionApi
{
    public const int MaxPageSize = 500;
    public const int MaxEventLimit = 1_000;

    /// <summary>How long a read waits for the events appended so far to reach the database before answering with what is there.</summary>
    private static readonly TimeSpan SettleWait = TimeSpan.FromSeconds(2);

    /// <summary>The orders <c>?sort=</c> accepts (with <c>dir=asc|desc</c>, newest activity first by default).</summary>
    private static readonly IReadOnlyList<string> SortNames = Enum.GetValues<SessionSort>().Select(SessionSorts.Name).ToList();

    public static IEndpointRouteBuilder MapSessionApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/sessions").WithTags("Sessions");
        api.MapGet("/", ListSessions).WithName("ListSessions").RequireScope(ApiScopes.Events);
        api.MapGet("/{id}", GetSession).WithName("GetSession").RequireScope(ApiScopes.Events);
        api.MapGet("/{id}/events", GetEvents).WithName("GetSessionEvents").RequireScope(ApiScopes.Events);
        api.MapGet("/{id}/export.jsonl", ExportSession).WithName("ExportSession").RequireScope(ApiScopes.Events);
        api.MapDelete("/{id}", DeleteSession).WithName("DeleteSession")
            .RequireAuthorization(SecurityServiceCollectionExtensions.AdminPolicy).RequireScope(ApiScopes.Admin);
        return app;
    }

    public sealed record SessionDto(
        string Id, string Kind, string? Owner, string? OwnerName, string? Title, string? Agent,
        DateTimeOffset Created, DateTimeOffset LastActivity, string Status, long EventCount)
    {
        public static SessionDto From(SessionInfo s) =>
            new(s.Id, s.Kind, s.OwnerId, s.OwnerName, s.Title, s.Agent, s.CreatedAt, s.LastActivityAt, s.Status, s.EventCount);
    }

    public sealed record SessionListDto(IReadOnlyList<SessionDto> Items, int Page, int PageSize, int Total);

    public sealed record EventDto(long Seq, DateTimeOffset Time, string Direction, string Type, string Actor, StoredJson Payload, int Size);

    /// <summary>
    /// A stored payload, written into the response as it is stored rather than re-encoded: JSON may hold what .NET's
    /// strings cannot (a lone <c>"\ud800"</c> escape), and one such payload must not make a whole page of events a 500.
    /// </summary>
    [System.Text.Json.Serialization.JsonConverter(typeof(StoredJsonConverter))]
    public readonly record struct StoredJson(string Json);

    internal sealed class StoredJsonConverter : System.Text.Json.Serialization.JsonConverter<StoredJson>
    {
        public override StoredJson Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options)
        {
            using var document = System.Text.Json.JsonDocument.ParseValue(ref reader);
            return new StoredJson(document.RootElement.GetRawText());
        }

        public override void Write(System.Text.Json.Utf8JsonWriter writer, StoredJson value, System.Text.Json.JsonSerializerOptions options)
        {
            try
            {
                writer.WriteRawValue(value.Json);
            }
            catch (System.Text.Json.JsonException)
            {
                writer.WriteStringValue(value.Json); // a payload stored as text, not JSON
            }
        }
    }

    public sealed record EventListDto(string SessionId, IReadOnlyList<EventDto> Events, long LastSeq, bool More);

    internal static async Task<Results<Ok<SessionListDto>, ProblemHttpResult>> ListSessions(
        HttpRequest request, ClaimsPrincipal user, ISessionStore store, CancellationToken cancellationToken)
    {
        var q = request.Query;
        var errors = new Dictionary<string, string[]>();
        var page = ParseInt(q, "page", 1, 1, int.MaxValue, errors);
        var pageSize = ParseInt(q, "pageSize", 50, 1, MaxPageSize, errors);
        var kind = ParseChoice(q, "kind", SessionKinds.All, errors);
        var status = ParseChoice(q, "status", SessionStatuses.All, errors);
        var from = ParseTime(q, "from", errors);
        var to = ParseTime(q, "to", errors);
        var sort = ParseChoice(q, "sort", SortNames, errors);
        var direction = ParseChoice(q, "dir", ["asc", "desc"], errors);
        string? owner = q["owner"];
        if (errors.Count > 0)
        {
            return TypedResults.Problem(ValidationProblem(errors));
        }
        if (!user.IsAdmin())
        {
            // A user's list holds their own sessions only; asking for someone else's gets an empty page.
            if (!string.IsNullOrEmpty(owner) && owner != user.UserId())
            {
                return TypedResults.Ok(new SessionListDto([], page, pageSize, 0));
            }
            owner = user.UserId();
        }
        var result = await store.ListAsync(new SessionQuery
        {
            Page = page,
            PageSize = pageSize,
            Kind = kind,
            Status = status,
            OwnerId = string.IsNullOrEmpty(owner) ? null : owner,
            Agent = string.IsNullOrEmpty(q["agent"]) ? null : q["agent"].ToString(),
            From = from,
            To = to,
            TitleContains = q["q"],
            Text = string.IsNullOrWhiteSpace(q["text"]) ? null : q["text"].ToString(),
            Sort = SessionSorts.TryParse(sort, out var order) ? order : SessionSort.LastActivity,
            Descending = direction != "asc",
        }, cancellationToken);
        return TypedResults.Ok(new SessionListDto(result.Items.Select(SessionDto.From).ToList(), result.Page, result.PageSize, result.Total));
    }

    internal static async Task<Results<Ok<SessionDto>, ProblemHttpResult>> GetSession(
        string id, ClaimsPrincipal user, ISessionStore store, CancellationToken cancellationToken)
    {
        var session = await FindVisibleAsync(id, user, store, cancellationToken);
        return session is null ? NotFoundProblem(id) : TypedResults.Ok(SessionDto.From(session));
    }

    internal static async Task<Results<Ok<EventListDto>, ProblemHttpResult>> GetEvents(
        string id, HttpRequest request, ClaimsPrincipal user, ISessionStore store, ISessionBus bus, SessionReadAudit audit, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var after = ParseLong(request.Query, "after", 0, 0, long.MaxValue, errors);
        var limit = ParseInt(request.Query, "limit", 100, 1, MaxEventLimit, errors);
        if (errors.Count > 0)
        {
            return TypedResults.Problem(ValidationProblem(errors));
        }
        var session = await FindVisibleAsync(id, user, store, cancellationToken);
        if (session is null)
        {
            return NotFoundProblem(id);
        }
        await audit.RecordAsync(user, session, SessionReadAudit.Via.EventsApi, cancellationToken);
        // Only what is in the database: a seq a client has seen is never handed out again after a crash.
        var durable = await bus.SettleAsync(id, SettleWait, cancellationToken);
        var events = (await bus.ReadAsync(id, after, limit + 1, cancellationToken)).Where(e => e.Seq <= durable).ToList();
        var more = events.Count > limit;
        var page = events.Take(limit).Select(ToDto).ToList();
        return TypedResults.Ok(new EventListDto(id, page, page.Count > 0 ? page[^1].Seq : after, more));
    }

    internal static async Task<Results<EmptyHttpResult, ProblemHttpResult>> ExportSession(
        string id, HttpContext context, ClaimsPrincipal user, ISessionStore store, ISessionBus bus, SessionReadAudit audit, CancellationToken cancellationToken)
    {
        var session = await FindVisibleAsync(id, user, store, cancellationToken);
        if (session is null)
        {
            return NotFoundProblem(id);
        }
        await audit.RecordAsync(user, session, SessionReadAudit.Via.Export, cancellationToken);
        context.Response.ContentType = "application/x-ndjson; charset=utf-8";
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"{session.Id}.jsonl\"";
        await SessionLogExporter.WriteAsync(bus, id, context.Response.BodyWriter, cancellationToken);
        return TypedResults.Empty;
    }

    /// <summary>Admins only: stops what runs in the session and deletes it with its events.</summary>
    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteSession(
        string id, ClaimsPrincipal user, SessionReview review, CancellationToken cancellationToken) =>
        await review.DeleteAsync(id, user, cancellationToken) ? TypedResults.NoContent() : NotFoundProblem(id);

    internal static async Task<SessionInfo?> FindVisibleAsync(string id, ClaimsPrincipal user, ISessionStore store, CancellationToken cancellationToken)
    {
        var session = await store.GetAsync(id, cancellationToken);
        // Someone else's session answers exactly like a missing one, so ids cannot be probed.
        return session is not null && user.CanRead(session) ? session : null;
    }

    internal static EventDto ToDto(SessionEvent e) =>
        new(e.Seq, e.Time, e.Direction, e.Type, e.Actor, new StoredJson(e.Payload), e.Size);

    private static ProblemHttpResult NotFoundProblem(string id) => TypedResults.Problem(
        statusCode: StatusCodes.Status404NotFound,
        title: "Session not found",
        detail: $"No session '{id}' exists, or it is not yours.");

    internal static ProblemDetails ValidationProblem(Dictionary<string, string[]> errors) => new HttpValidationProblemDetails(errors)
    {
        Status = StatusCodes.Status400BadRequest,
        Title = "The query is not valid",
        Detail = string.Join(" ", errors.SelectMany(e => e.Value)),
        Type = "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    };

    internal static int ParseInt(IQueryCollection q, string name, int fallback, int min, int max, Dictionary<string, string[]> errors) =>
        (int)ParseLong(q, name, fallback, min, max, errors);

    internal static long ParseLong(IQueryCollection q, string name, long fallback, long min, long max, Dictionary<string, string[]> errors)
    {
        if (!q.TryGetValue(name, out var raw) || string.IsNullOrEmpty(raw))
        {
            return fallback;
        }
        if (raw.Count > 1 || !long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors[name] = [$"'{name}' must be a whole number from {min} to {max}."];
            return fallback;
        }
        return value;
    }

    internal static string? ParseChoice(IQueryCollection q, string name, IReadOnlyList<string> allowed, Dictionary<string, string[]> errors)
    {
        if (!q.TryGetValue(name, out var raw) || string.IsNullOrEmpty(raw))
        {
            return null;
        }
        if (raw.Count > 1 || !allowed.Contains(raw.ToString()))
        {
            errors[name] = [$"'{name}' must be one of: {string.Join(", ", allowed)}."];
            return null;
        }
        return raw;
    }

    internal static DateTimeOffset? ParseTime(IQueryCollection q, string name, Dictionary<string, string[]> errors)
    {
        if (!q.TryGetValue(name, out var raw) || string.IsNullOrEmpty(raw))
        {
            return null;
        }
        if (raw.Count > 1 || !DateTimeOffset.TryParse(raw, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
        {
            errors[name] = [$"'{name}' must be an ISO 8601 date or time, for example 2026-11-22 or 2026-11-22T10:00:00Z."];
            return null;
        }
        return value;
    }
}
