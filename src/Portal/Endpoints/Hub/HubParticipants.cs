using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Portal.Endpoints.Sockets;
using Portal.Security;
using Portal.Security.Limits;
using Portal.Sessions;

namespace Portal.Endpoints.Hub;

/// <summary>
/// The participants of <c>/hubs/session</c> and what their connections do. The participant is the signed-in user;
/// a connection joins at most one session of kind <c>hub</c> at a time. Everything is an event of that session:
/// joins and leaves, each accepted event (appended before it is acknowledged), each refused one, each error sent.
/// <para>
/// Delivery does not use SignalR groups: each joined connection follows the session's log from a seq
/// (<see cref="ISessionBus.SubscribeAsync"/>), so history and the live tail reach it in order with no gap and no
/// duplicate, whether it joins fresh, resumes after a drop, or is one of several connections of the same participant.
/// The log's subscription is also what spans several nodes, where SignalR groups would need a backplane.
/// </para>
/// </summary>
internal sealed partial class HubParticipants
{
    /// <summary>The name the status page counts these connections under.</summary>
    public const string Endpoint = SessionHubExtensions.DefaultPath;

    private readonly ConcurrentDictionary<string, ParticipantConnection> _connections = new(StringComparer.Ordinal);
    private readonly ISessionBus _bus;
    private readonly ISessionStore _store;
    private readonly SessionPresence _presence;
    private readonly SocketConnections _sockets;
    private readonly ClientLimits _limits;
    private readonly IHubContext<SessionHub> _hub;
    private readonly SocketOptions _rates;
    private readonly EventLimits _eventLimits;
    private readonly TimeProvider _time;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<HubParticipants> _logger;

    public HubParticipants(
        ISessionBus bus,
        ISessionStore store,
        SessionPresence presence,
        SocketConnections sockets,
        ClientLimits limits,
        IHubContext<SessionHub> hub,
        IOptions<SessionHubOptions> options,
        IOptions<SessionsOptions> sessions,
        IOptions<SocketOptions> rates,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        ILogger<HubParticipants> logger)
    {
        _bus = bus;
        _store = store;
        _presence = presence;
        _sockets = sockets;
        _limits = limits;
        _hub = hub;
        _rates = rates.Value;
        _time = time;
        _lifetime = lifetime;
        _logger = logger;
        // An event the log would keep only as a preview could not be replayed whole: the smaller limit applies.
        var (hubOptions, stored) = (options.Value, sessions.Value.MaxStoredPayloadBytes);
        _eventLimits = new EventLimits(
            Math.Min(hubOptions.MaxEventBytes, stored),
            hubOptions.MaxEventBytes <= stored ? $"{SessionHubOptions.Section}:{nameof(SessionHubOptions.MaxEventBytes)}" : $"{SessionsOptions.Section}:{nameof(SessionsOptions.MaxStoredPayloadBytes)}",
            hubOptions.EventTypes.Count > 0 ? hubOptions.EventTypes.ToFrozenSet(StringComparer.Ordinal) : null);
    }

    public ParticipantConnection? Find(string connectionId) => _connections.GetValueOrDefault(connectionId);

    /// <summary>
    /// Registers a connection of the signed-in user. How many each user and address may open is decided before the
    /// connection is made (<c>Portal:Limits</c>, answered with 429).
    /// </summary>
    public Task ConnectAsync(HubCallerContext context)
    {
        // The endpoint's policy admits only signed-in users; a principal without an id would be no participant at all.
        var userId = context.User?.UserId() ?? throw new HubException($"{HubErrorCodes.InvalidRequest}: the connection has no signed-in user.");
        var address = context.GetHttpContext()?.Connection.RemoteIpAddress;
        // Calls are limited per connection (Portal:Sockets) and over all of the user's socket connections (Portal:Limits).
        var flood = new FloodGuard(_rates, _time, _limits.MessagesOf(userId));
        _connections[context.ConnectionId] = new ParticipantConnection(context, userId, address, flood, _sockets.Open(Endpoint));
        return Task.CompletedTask;
    }

    public async Task DisconnectAsync(HubCallerContext context, Exception? exception)
    {
        if (!_connections.TryRemove(context.ConnectionId, out var connection))
        {
            return;
        }
        await connection.Gate.WaitAsync(CancellationToken.None);
        try
        {
            connection.Closed = true;
            // SignalR reports a transport that simply ended (a close, or a dropped TCP connection) without an exception.
            var reason = _lifetime.ApplicationStopping.IsCancellationRequested ? "Server stopping" : exception is null ? "Connection closed" : "Connection lost";
            await DetachAsync(connection, reason);
        }
        finally
        {
            connection.Gate.Release();
            connection.Dispose();
        }
    }

    /// <summary>
    /// <c>JoinSession</c>: creates a hub session owned by the caller, or joins one the caller may read (their own;
    /// administrators any), leaving the session joined before. Events after <see cref="JoinRequest.AfterSeq"/> are
    /// delivered, history first; without it, from this join on.
    /// </summary>
    public async Task<JoinResult> JoinAsync(HubCallerContext context, JsonElement request)
    {
        const string Method = "JoinSession";
        var connection = Get(context);
        if (HubEventReader.ReadJoin(request, out var join) is { } refusal)
        {
            throw await FailAsync(connection, Method, refusal);
        }
        var cancellationToken = context.ConnectionAborted;
        await connection.Gate.WaitAsync(cancellationToken);
        try
        {
            ThrowIfClosed(connection);
            SessionInfo session;
            var created = join.SessionId is null;
            if (join.SessionId is null)
            {
                if (!_limits.TryStartSession(connection.UserId, connection.Address, out var limited))
                {
                    throw await FailAsync(connection, Method, new Refusal(HubErrorCodes.TooManySessions, limited!.Message));
                }
                // Once begun, a session is created whole, with its first event, even if the caller hangs up meanwhile: a
                // transaction cut short by the abort would leave an Error in the log for what is only a client leaving,
                // and a session row with no event.
                session = await _bus.CreateSessionAsync(new NewSession(SessionKinds.Hub, connection.UserId, join.Title), CancellationToken.None);
                await _bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.Internal, EventTypes.SessionStarted, EventActors.System,
                    new { participantId = connection.UserId, name = connection.Name, connection = connection.ConnectionId }), CancellationToken.None);
            }
            else
            {
                var found = SessionJson.IsValidId(join.SessionId) ? await _store.GetAsync(join.SessionId, cancellationToken) : null;
                if (found is null || found.Kind != SessionKinds.Hub || !connection.User.CanRead(found))
                {
                    throw await FailAsync(connection, Method, NoSuchSession(join.SessionId));
                }
                session = found;
            }
            var lastSeq = await _bus.GetLastSeqAsync(session.Id, cancellationToken);
            if (join.AfterSeq > lastSeq)
            {
                throw await FailAsync(connection, Method, new Refusal(HubErrorCodes.InvalidRequest,
                    $"afterSeq {join.AfterSeq} is beyond the session's last seq, {lastSeq}: there is nothing after it to deliver yet."));
            }
            await DetachAsync(connection, session.Id == connection.SessionId ? "joined again" : "joined another session");
            _presence.Join(session.Id);
            connection.SessionId = session.Id;
            var joined = await _bus.AppendAsync(session.Id, new NewSessionEvent(EventDirections.Internal, HubEventTypes.ParticipantJoined, EventActors.Participant,
                HubEventReader.SystemEvent(HubEventTypes.ParticipantJoined, connection.UserId, connection.Name, _time.GetUtcNow(),
                    new { connection = connection.ConnectionId, afterSeq = join.AfterSeq })), CancellationToken.None);
            await _bus.SetStatusAsync(session.Id, SessionStatuses.Active, CancellationToken.None);
            var from = join.AfterSeq ?? joined.Seq - 1;
            var sessionId = session.Id;
            connection.StartDelivery(token => DeliverAsync(connection, sessionId, from, token));
            Log.Joined(_logger, connection.ConnectionId, sessionId, from);
            return new JoinResult(sessionId, connection.UserId, created, from, joined.Seq);
        }
        catch (SessionNotFoundException ex)
        {
            // Deleted between finding and joining it.
            if (connection.SessionId == ex.SessionId)
            {
                await DetachAsync(connection, "session deleted");
            }
            throw await FailAsync(connection, Method, NoSuchSession(ex.SessionId));
        }
        finally
        {
            connection.Gate.Release();
        }
    }

    /// <summary>
    /// <c>Send</c>: checks the event, appends it to the joined session with the caller as its source, and returns its
    /// seq. Every connection in the session (the caller's included) then receives it as a <c>message</c>.
    /// </summary>
    public async Task<SendResult> SendAsync(HubCallerContext context, JsonElement input)
    {
        const string Method = "Send";
        var connection = Get(context);
        var cancellationToken = context.ConnectionAborted;
        await connection.Gate.WaitAsync(cancellationToken);
        try
        {
            ThrowIfClosed(connection);
            if (connection.SessionId is not { } sessionId)
            {
                throw await FailAsync(connection, Method, new Refusal(HubErrorCodes.NotJoined,
                    "Join a session first: JoinSession(null) creates one, JoinSession(\"<session id>\") joins one of yours."));
            }
            if (HubEventReader.ReadEvent(input, connection.UserId, connection.Name, _time.GetUtcNow(), _eventLimits, out var accepted) is { } refusal)
            {
                await RecordRejectedAsync(sessionId, input, refusal);
                throw await FailAsync(connection, Method, refusal);
            }
            var stored = await _bus.AppendAsync(sessionId, new NewSessionEvent(EventDirections.In, accepted!.Type, EventActors.Participant, accepted.Payload, accepted.Bytes),
                cancellationToken);
            return new SendResult(sessionId, stored.Seq, accepted.Id, stored.Time);
        }
        catch (SessionNotFoundException ex)
        {
            await DetachAsync(connection, "session deleted");
            throw await FailAsync(connection, Method, new Refusal(HubErrorCodes.SessionNotFound, $"The session '{ex.SessionId}' no longer exists. Join or create another."));
        }
        finally
        {
            connection.Gate.Release();
        }
    }

    /// <summary><c>Leave</c>: stops delivery of the joined session and records that the participant left.</summary>
    public async Task<LeaveResult> LeaveAsync(HubCallerContext context)
    {
        const string Method = "Leave";
        var connection = Get(context);
        await connection.Gate.WaitAsync(context.ConnectionAborted);
        try
        {
            ThrowIfClosed(connection);
            if (connection.SessionId is not { } sessionId)
            {
                throw await FailAsync(connection, Method, new Refusal(HubErrorCodes.NotJoined, "This connection has not joined a session, so there is nothing to leave."));
            }
            var seq = await DetachAsync(connection, "left");
            return new LeaveResult(sessionId, seq ?? 0);
        }
        finally
        {
            connection.Gate.Release();
        }
    }

    /// <summary>
    /// Rate limit of a connection's invocations (<c>Portal:Sockets</c> MessagesPerSecond, Burst, FloodCloseAfter):
    /// null when the invocation may run; otherwise the exception that refuses it. A connection that keeps sending far
    /// past the rate is closed.
    /// </summary>
    public async Task<HubException?> AdmitAsync(ParticipantConnection connection, string method)
    {
        if (connection.TryAdmit(out var flooding, out var refused))
        {
            return null;
        }
        if (flooding)
        {
            Log.Flooding(_logger, connection.ConnectionId, refused);
            var error = await FailAsync(connection, method, new Refusal(HubErrorCodes.TooManyMessages, $"Too many messages: {refused} refused in ten seconds; closing."));
            connection.Context.Abort();
            return error;
        }
        var refusal = new Refusal(HubErrorCodes.RateLimited, $"Too many messages: {connection.Flood.Describe()}. Calls beyond it are refused, not recorded.");
        var now = _time.GetTimestamp();
        if (_time.GetElapsedTime(connection.LastRateError, now) <= TimeSpan.FromSeconds(1))
        {
            // The error callback (and its log line) go out at most once a second: a flood does not become one of logs.
            return new HubException($"{refusal.Code}: {refusal.Message}");
        }
        connection.LastRateError = now;
        return await FailAsync(connection, method, refusal);
    }

    /// <summary>
    /// Tells the connection what went wrong (the <c>error</c> callback), records it in the joined session, logs it, and
    /// returns the exception that fails the invocation with the same code and message.
    /// </summary>
    public async Task<HubException> FailAsync(ParticipantConnection connection, string method, Refusal refusal)
    {
        var sessionId = connection.SessionId;
        // A failure inside Portal is logged where it was caught, with its exception (SessionHubFilter).
        if (refusal.Code != HubErrorCodes.InternalError)
        {
            Log.Refused(_logger, method, connection.ConnectionId, connection.UserId, sessionId, refusal.Code, refusal.Message);
        }
        if (sessionId is not null)
        {
            try
            {
                await _bus.AppendAsync(sessionId, NewSessionEvent.FromObject(EventDirections.Out, EventTypes.Error, EventActors.System,
                    new { code = refusal.Code, message = refusal.Message, method, connection = connection.ConnectionId }), CancellationToken.None);
            }
            catch (SessionNotFoundException)
            {
                sessionId = null;
            }
        }
        // Sent before the invocation's completion, on the same connection: a client sees the callback first.
        await _hub.Clients.Client(connection.ConnectionId).SendAsync(HubCallbacks.Error, new HubError(refusal.Code, refusal.Message, method, sessionId), CancellationToken.None);
        return new HubException($"{refusal.Code}: {refusal.Message}");
    }

    /// <summary>The session's events for this connection, from after <paramref name="afterSeq"/>, until cancelled or the session is deleted.</summary>
    private async Task DeliverAsync(ParticipantConnection connection, string sessionId, long afterSeq, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var client = _hub.Clients.Client(connection.ConnectionId);
        try
        {
            await foreach (var e in _bus.SubscribeAsync(sessionId, afterSeq, cancellationToken))
            {
                if (ToMessage(e, connection.UserId) is { } message)
                {
                    await client.SendAsync(HubCallbacks.Message, message, cancellationToken);
                }
            }
            if (!cancellationToken.IsCancellationRequested)
            {
                await client.SendAsync(HubCallbacks.Error, new HubError(HubErrorCodes.SessionDeleted, "The session was deleted. Join or create another.", SessionId: sessionId),
                    CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (SessionNotFoundException)
        {
            await client.SendAsync(HubCallbacks.Error, new HubError(HubErrorCodes.SessionDeleted, "The session was deleted. Join or create another.", SessionId: sessionId),
                CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.DeliveryFailed(_logger, ex, connection.ConnectionId, sessionId);
            connection.Context.Abort(); // the client reconnects and resumes from its last seq rather than miss events silently
        }
    }

    /// <summary>
    /// The <c>message</c> an event becomes for <paramref name="userId"/>, or null when it is not delivered: only
    /// participants' events and joins and leaves are, and an event with <c>to</c> reaches only the participants it
    /// names and its sender.
    /// </summary>
    internal static HubMessage? ToMessage(SessionEvent e, string userId)
    {
        var presence = e.Type is HubEventTypes.ParticipantJoined or HubEventTypes.ParticipantLeft;
        if (!presence && !(e.Direction == EventDirections.In && e.Actor == EventActors.Participant && e.Type != HubEventTypes.EventRejected))
        {
            return null;
        }
        using var document = JsonDocument.Parse(e.Payload);
        var root = document.RootElement;
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("to", out var to) && to.ValueKind == JsonValueKind.Array)
        {
            var fromMe = root.TryGetProperty("source", out var source) && source.ValueKind == JsonValueKind.Object
                && source.TryGetProperty("id", out var sender) && sender.ValueKind == JsonValueKind.String && sender.ValueEquals(userId);
            if (!fromMe && !to.EnumerateArray().Any(r => r.ValueKind == JsonValueKind.String && r.ValueEquals(userId)))
            {
                return null;
            }
        }
        return new HubMessage(e.SessionId, e.Seq, e.Time, root.Clone());
    }

    /// <summary>Leaves the joined session, if any: delivery stops, the leave is recorded, and the last one out marks it idle.</summary>
    private async Task<long?> DetachAsync(ParticipantConnection connection, string reason)
    {
        if (connection.SessionId is not { } sessionId)
        {
            return null;
        }
        connection.SessionId = null;
        await connection.StopDeliveryAsync();
        var remaining = _presence.Leave(sessionId);
        try
        {
            var left = await _bus.AppendAsync(sessionId, new NewSessionEvent(EventDirections.Internal, HubEventTypes.ParticipantLeft, EventActors.Participant,
                HubEventReader.SystemEvent(HubEventTypes.ParticipantLeft, connection.UserId, connection.Name, _time.GetUtcNow(),
                    new { connection = connection.ConnectionId, reason })), CancellationToken.None);
            // On shutdown the status stays active: the next start marks the session interrupted, which is what happened.
            if (remaining == 0 && !_lifetime.ApplicationStopping.IsCancellationRequested)
            {
                await _bus.SetStatusAsync(sessionId, SessionStatuses.Idle, CancellationToken.None);
            }
            Log.Left(_logger, connection.ConnectionId, sessionId, reason);
            return left.Seq;
        }
        catch (SessionNotFoundException)
        {
            return null;
        }
        catch (InvalidOperationException ex)
        {
            Log.LeaveNotRecorded(_logger, ex, sessionId); // shutting down
            return null;
        }
    }

    private async Task RecordRejectedAsync(string sessionId, JsonElement input, Refusal refusal)
    {
        var text = input.ValueKind == JsonValueKind.Undefined ? "" : input.GetRawText();
        await _bus.AppendAsync(sessionId, NewSessionEvent.FromObject(EventDirections.In, HubEventTypes.EventRejected, EventActors.Participant,
            new { code = refusal.Code, problem = refusal.Message, text = HubEventReader.Shorten(text, 2_048), bytes = Encoding.UTF8.GetByteCount(text) }),
            CancellationToken.None);
    }

    private ParticipantConnection Get(HubCallerContext context) =>
        _connections.GetValueOrDefault(context.ConnectionId)
        ?? throw new HubException($"{HubErrorCodes.InternalError}: this connection is not registered; reconnect.");

    private static void ThrowIfClosed(ParticipantConnection connection)
    {
        if (connection.Closed)
        {
            throw new HubException($"{HubErrorCodes.InternalError}: the connection has closed.");
        }
    }

    private static Refusal NoSuchSession(string sessionId) =>
        new(HubErrorCodes.SessionNotFound, $"There is no hub session of yours with the id '{HubEventReader.Shorten(sessionId, 80)}'.");

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Hub connection {ConnectionId} joined session {SessionId}, delivering after seq {AfterSeq}")]
        public static partial void Joined(ILogger logger, string connectionId, string sessionId, long afterSeq);

        [LoggerMessage(2, LogLevel.Debug, "Hub connection {ConnectionId} left session {SessionId}: {Reason}")]
        public static partial void Left(ILogger logger, string connectionId, string sessionId, string reason);

        [LoggerMessage(4, LogLevel.Information, "Hub connection {ConnectionId} closed for flooding: {Refused} calls refused in ten seconds")]
        public static partial void Flooding(ILogger logger, string connectionId, int refused);

        [LoggerMessage(5, LogLevel.Error, "Delivering session {SessionId} to hub connection {ConnectionId} failed; the connection is closed so the client resumes")]
        public static partial void DeliveryFailed(ILogger logger, Exception exception, string connectionId, string sessionId);

        [LoggerMessage(6, LogLevel.Debug, "A participant leaving session {SessionId} was not recorded")]
        public static partial void LeaveNotRecorded(ILogger logger, Exception exception, string sessionId);

        [LoggerMessage(7, LogLevel.Information, "Hub call {Method} of connection {ConnectionId} (user {UserId}, session {SessionId}) refused: {Code}: {Reason}")]
        public static partial void Refused(ILogger logger, string method, string connectionId, string userId, string? sessionId, string code, string reason);
    }
}
