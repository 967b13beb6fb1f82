using System.Security.Claims;
using Portal.Security;
using Portal.Sessions;

namespace Portal.Admin;

/// <summary>
/// Writes an <see cref="EventTypes.AdminViewed"/> event into a session's own log when an administrator reads someone
/// else's session (the detail page, the chat page, the events API, the export, following it on <c>/ws/agent</c>), so
/// the owner and other admins can see who looked. Once per admin per session per <see cref="Window"/>: a page that
/// follows the live tail, or a program paging through events, writes one event, not one per read.
/// </summary>
public sealed class SessionReadAudit(ISessionBus bus, TimeProvider time)
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(10);
    private const int PruneAbove = 10_000;

    private readonly Dictionary<(string Admin, string Session), DateTimeOffset> _last = [];

    /// <summary>How an admin read a session, as the event's <c>via</c> says it.</summary>
    public static class Via
    {
        public const string AdminPage = "admin page";
        public const string ChatPage = "chat page";
        public const string EventsApi = "events api";
        public const string Export = "export";
        public const string AgentSocket = "/ws/agent";
    }

    /// <summary>Records the read when <paramref name="reader"/> is an admin reading another user's session; true when an event was written.</summary>
    public async Task<bool> RecordAsync(ClaimsPrincipal reader, SessionInfo session, string via, CancellationToken cancellationToken)
    {
        var adminId = reader.UserId();
        // Sessions without an owner (widget visitors) belong to no user; an admin's own sessions are theirs.
        if (adminId is null || !reader.IsAdmin() || session.OwnerId is null || session.OwnerId == adminId || !TryClaim(adminId, session.Id))
        {
            return false;
        }
        try
        {
            await bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.Internal, EventTypes.AdminViewed, EventActors.Admin,
                new { adminId, admin = reader.Identity?.Name, via }), cancellationToken);
            return true;
        }
        catch (SessionNotFoundException)
        {
            return false; // deleted meanwhile: nothing left to read
        }
    }

    /// <summary>True when no event was written for this admin and session within the window; then the window starts now.</summary>
    private bool TryClaim(string adminId, string sessionId)
    {
        var now = time.GetUtcNow();
        lock (_last)
        {
            if (_last.TryGetValue((adminId, sessionId), out var last) && now - last < Window)
            {
                return false;
            }
            if (_last.Count >= PruneAbove)
            {
                foreach (var key in _last.Where(e => now - e.Value >= Window).Select(e => e.Key).ToList())
                {
                    _last.Remove(key);
                }
            }
            _last[(adminId, sessionId)] = now;
            return true;
        }
    }
}
