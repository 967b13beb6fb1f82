using System.Buffers;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Portal.Admin;
using Portal.Agents.Approvals;
using Portal.Agents.Runtime;
using Portal.Endpoints.Sockets;
using Portal.Security;
using Portal.Sessions;
using Portal.Sessions.Export;

namespace Portal.Endpoints.AgentSocket;

/// <summary>
/// One <c>/ws/agent</c> connection (seed 001 frames <c>{id, type, payload}</c>). Incoming frames are appended to the
/// session as they arrive, then acted on; outgoing frames are the session's outgoing events, read from the bus from a
/// seq, so a reconnecting client (<c>resume</c>) receives exactly what it missed, with the same frame ids.
/// </summary>
internal sealed partial class AgentSocketConnection(
    WebSocket socket,
    ClaimsPrincipal user,
    ISessionBus bus,
    ISessionStore store,
    AgentRuntime runtime,
    SessionPresence presence,
    SessionReadAudit audit,
    SocketOptions options,
    SessionsOptions sessions,
    FloodGuard flood,
    TimeProvider time,
    ILogger logger) : IAsyncDisposable
{
    public const string Protocol = "agent";
    public const int MaxInputLength = 256_000;
    private static readonly string[] KnownTypes =
        [EventTypes.UserInput, AgentEventTypes.ApprovalResponse, AgentEventTypes.Cancel, AgentEventTypes.GetContextInfo, AgentEventTypes.ManualCompact, AgentEventTypes.Resume];

    private readonly string _connection = Guid.NewGuid().ToString("N")[..12];
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly FloodGuard _flood = flood;
    private string? _sessionId;
    private bool _createdHere;
    private bool _inputSeen;
    private CancellationTokenSource? _sender;
    private Task _senderTask = Task.CompletedTask;
    private long _lastSent;
    private long _lastFloodError;
    /// <summary>The session log could not take this client's frame in time: the connection closes with 1013.</summary>
    private bool _logBusy;

    private string By => user.Identity?.Name ?? "user";

    public async Task RunAsync(SessionInfo? resume, long afterSeq, string? agent, CancellationToken stopping, CancellationToken cancellationToken)
    {
        var closeStatus = WebSocketCloseStatus.NormalClosure;
        var closeReason = "Goodbye";
        // On shutdown the client is told (1001) while the receive loop keeps waiting for its close: cancelling a
        // receive would abort the connection instead.
        using var onStopping = stopping.Register(() => _ = CloseForShutdownAsync());
        try
        {
            if (resume is null)
            {
                var session = await runtime.CreateSessionAsync(SessionKinds.Agent, user.UserId(), agent, cancellationToken);
                _createdHere = true;
                await AttachAsync(session, afterSeq: 1, resumed: false, cancellationToken);
            }
            else
            {
                await AttachAsync(resume, afterSeq, resumed: true, cancellationToken);
            }
            using var reader = new SocketMessageReader(socket, options.MaxMessageBytes);
            while (socket.State == WebSocketState.Open && !_logBusy)
            {
                var message = await reader.ReadAsync(cancellationToken);
                if (message.Status == ReadStatus.Closed)
                {
                    closeReason = "Client closed";
                    break;
                }
                if (message.Status == ReadStatus.TooBig)
                {
                    (closeStatus, closeReason) = (WebSocketCloseStatus.MessageTooBig, $"Message too big (limit {options.MaxMessageBytes} bytes)");
                    await ConnectionErrorAsync(closeReason, "message_too_big", deliverBeforeClose: true);
                    break;
                }
                if (!_flood.TryTake())
                {
                    if (_flood.Flooding)
                    {
                        (closeStatus, closeReason) = (WebSocketCloseStatus.PolicyViolation, "Too many messages");
                        await ConnectionErrorAsync($"Too many messages: {_flood.RecentlyRefused} refused in ten seconds; closing.", "too_many_messages", deliverBeforeClose: true);
                        break;
                    }
                    var now = time.GetTimestamp();
                    if (time.GetElapsedTime(_lastFloodError, now) > TimeSpan.FromSeconds(1))
                    {
                        _lastFloodError = now;
                        await ConnectionErrorAsync(
                            $"Too many messages: {_flood.Describe()}. Messages beyond it are refused, not recorded.",
                            "rate_limited");
                    }
                    continue;
                }
                await HandleAsync(message, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            closeReason = "Connection lost";
        }
        catch (WebSocketException)
        {
            closeReason = "Connection lost";
        }
        catch (SessionNotFoundException)
        {
            (closeStatus, closeReason) = (WebSocketCloseStatus.NormalClosure, "Session deleted");
        }
        if (_shuttingDown)
        {
            (closeStatus, closeReason) = (WebSocketCloseStatus.EndpointUnavailable, "Server stopping");
        }
        else if (_logBusy)
        {
            // Told first: recording the detach waits for room in the log like everything else.
            Log.LogBusy(logger, _sessionId ?? "", sessions.AppendTimeout);
            await CloseAsync(SessionLogWait.TryAgainLater, SessionLogWait.Reason);
            await SocketClosing.DrainUntilClosedAsync(socket);
            await DetachAsync(SessionLogWait.Reason, (int)SessionLogWait.TryAgainLater);
            return;
        }
        await DetachAsync(closeReason, (int)closeStatus);
        await CloseAsync(closeStatus, closeReason);
        await SocketClosing.DrainUntilClosedAsync(socket);
    }

    private volatile bool _shuttingDown;

    private async Task CloseForShutdownAsync()
    {
        _shuttingDown = true;
        try
        {
            await CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Server stopping");
            // A client that never answers the close must not hold up the shutdown.
            await Task.Delay(TimeSpan.FromSeconds(2), time, CancellationToken.None);
            if (socket.State != WebSocketState.Closed)
            {
                socket.Abort();
            }
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task HandleAsync(SocketMessage message, CancellationToken cancellationToken)
    {
        if (message.Type != WebSocketMessageType.Text)
        {
            if (await RecordUnreadableAsync(message.Data, "binary message"))
            {
                await ConnectionErrorAsync("Frames are JSON text: {\"id\", \"type\", \"payload\"}. Binary messages are not accepted.", "invalid_frame");
            }
            return;
        }
        JsonDocument document;
        try
        {
            document = SocketJson.Parse(message.Data, maxDepth: 64);
        }
        catch (JsonException ex)
        {
            if (await RecordUnreadableAsync(message.Data, "invalid JSON"))
            {
                await ConnectionErrorAsync($"The frame is not valid JSON: {ex.Message}", "invalid_json");
            }
            return;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
            {
                if (await RecordUnreadableAsync(message.Data, "no type"))
                {
                    await ConnectionErrorAsync("A frame is a JSON object {\"id\", \"type\", \"payload\"} with a string \"type\".", "invalid_frame");
                }
                return;
            }
            var type = typeElement.GetString()!;
            if (!KnownTypes.Contains(type))
            {
                if (await RecordUnreadableAsync(message.Data, "unknown type"))
                {
                    await ConnectionErrorAsync($"Unknown frame type '{Shorten(type, 64)}'. Known: {string.Join(", ", KnownTypes)}.", "unknown_type");
                }
                return;
            }
            var payload = root.TryGetProperty("payload", out var p) && p.ValueKind != JsonValueKind.Null ? p : default;
            if (payload.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Object))
            {
                if (await RecordUnreadableAsync(message.Data, "payload not an object"))
                {
                    await ConnectionErrorAsync($"The payload of '{type}' must be a JSON object.", "invalid_payload");
                }
                return;
            }
            var recorded = await SessionLogWait.AppendAsync(bus, _sessionId!, new NewSessionEvent(EventDirections.In, type, EventActors.User,
                payload.ValueKind == JsonValueKind.Object ? payload.GetRawText() : "{}", message.Data.Length), sessions.AppendTimeout, cancellationToken);
            if (recorded is null)
            {
                _logBusy = true;
                return;
            }
            switch (type)
            {
                case EventTypes.UserInput:
                    await UserInputAsync(payload, recorded.Seq);
                    break;
                case AgentEventTypes.ApprovalResponse:
                    await ApprovalAsync(payload);
                    break;
                case AgentEventTypes.Cancel:
                    if (!await runtime.CancelAsync(_sessionId!, By))
                    {
                        await ConnectionErrorAsync("Nothing is running to cancel.", "not_running");
                    }
                    break;
                case AgentEventTypes.GetContextInfo:
                    await runtime.ContextInfoAsync(_sessionId!);
                    break;
                case AgentEventTypes.ManualCompact:
                    switch (await runtime.CompactAsync(_sessionId!))
                    {
                        case CompactStatus.Busy:
                            await ConnectionErrorAsync("A turn is running; compact when it has finished.", "busy");
                            break;
                    }
                    break;
                case AgentEventTypes.Resume:
                    await ResumeAsync(payload, cancellationToken);
                    break;
            }
        }
    }

    private async Task UserInputAsync(JsonElement payload, long inputSeq)
    {
        UserInputPayload? input = null;
        try
        {
            input = payload.ValueKind == JsonValueKind.Object ? payload.Deserialize<UserInputPayload>(AgentJson.Options) : null;
        }
        catch (JsonException)
        {
        }
        var text = input?.ReadText();
        if (text is null)
        {
            await ConnectionErrorAsync("user_input needs payload.input: [{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"...\"}]}].", "invalid_payload", inputSeq);
            return;
        }
        if (text.Length > MaxInputLength)
        {
            await ConnectionErrorAsync($"The input is {text.Length} characters; at most {MaxInputLength} are accepted.", "input_too_long", inputSeq);
            return;
        }
        // An input the session log would keep only as a preview could not be replayed after a restart: refused whole.
        if (Encoding.UTF8.GetByteCount(payload.GetRawText()) is var bytes && bytes > sessions.MaxStoredPayloadBytes)
        {
            await ConnectionErrorAsync($"The input is {bytes} bytes as JSON; at most {sessions.MaxStoredPayloadBytes} (Portal:Sessions:MaxStoredPayloadBytes) are kept whole in the session log.",
                "input_too_long", inputSeq);
            return;
        }
        _inputSeen = true;
        var start = await runtime.StartTurnAsync(_sessionId!, inputSeq, text, input!.CancelCurrent == true, toolsEnabled: true, By);
        if (start.Status == TurnStartStatus.Busy)
        {
            await ConnectionErrorAsync("A turn is already running in this session. Wait for agent_finished, or send user_input with \"cancelCurrent\": true to stop it first.", "busy", inputSeq);
        }
    }

    private async Task ApprovalAsync(JsonElement payload)
    {
        var review = payload.ValueKind == JsonValueKind.Object && payload.TryGetProperty("review", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        if (!ReviewDecisions.TryParse(review, out var decision))
        {
            await ConnectionErrorAsync($"approval_response needs payload.review: one of {ReviewDecisions.Accepted}.", "invalid_payload");
            return;
        }
        var callId = Text(payload, "callId") ?? Text(payload, "call_id");
        var message = Text(payload, "customDenyMessage");
        switch (await runtime.DecideAsync(_sessionId!, callId, decision, message, By))
        {
            case DecisionStatus.NoPendingApproval:
                await ConnectionErrorAsync("No approval is pending in this session.", "no_pending_approval");
                break;
            case DecisionStatus.UnknownCallId:
                await ConnectionErrorAsync($"No pending approval has callId '{Shorten(callId!, 80)}'.", "unknown_call_id");
                break;
        }
    }

    private async Task ResumeAsync(JsonElement payload, CancellationToken cancellationToken)
    {
        var sessionId = Text(payload, "sessionId");
        long afterSeq = 0;
        if (payload.ValueKind == JsonValueKind.Object && payload.TryGetProperty("afterSeq", out var after) && !(after.ValueKind == JsonValueKind.Number && after.TryGetInt64(out afterSeq) && afterSeq >= 0))
        {
            await ConnectionErrorAsync("resume: afterSeq must be a whole number, 0 or more.", "invalid_payload");
            return;
        }
        var session = sessionId is null ? null : await store.GetAsync(sessionId, cancellationToken);
        if (session is null || !CanFollow(user, session))
        {
            await ConnectionErrorAsync($"resume: no session '{Shorten(sessionId ?? "", 80)}' of yours to resume.", "session_not_found");
            return;
        }
        var previous = _sessionId!;
        var discard = _createdHere && !_inputSeen && previous != session.Id;
        await DetachAsync("resumed another session", null);
        if (discard)
        {
            // The session this connection opened with was never used: resuming another one leaves no empty session behind.
            await runtime.ForgetAsync(previous);
            await bus.DeleteSessionAsync(previous, CancellationToken.None);
        }
        _createdHere = false;
        _inputSeen = false;
        await AttachAsync(session, afterSeq, resumed: true, cancellationToken);
    }

    internal static bool CanFollow(ClaimsPrincipal user, SessionInfo session) =>
        session.Kind is SessionKinds.Agent or SessionKinds.Chat && user.CanRead(session);

    /// <summary>Follows <paramref name="session"/>: says so (<c>session_started</c>), then sends its outgoing events after <paramref name="afterSeq"/>.</summary>
    private async Task AttachAsync(SessionInfo session, long afterSeq, bool resumed, CancellationToken cancellationToken)
    {
        _sessionId = session.Id;
        presence.Join(session.Id);
        // A resumed session_started carries the client's own position (afterSeq), not that of the attach event: the
        // frames replayed after it have lower seqs, and a client that drops right after it resumes from its last id.
        var frameSeq = resumed ? afterSeq : 1; // 1: the session's own session_started event
        if (resumed)
        {
            await audit.RecordAsync(user, session, SessionReadAudit.Via.AgentSocket, cancellationToken);
            await bus.AppendAsync(session.Id, AgentJson.Event(EventDirections.Internal, AgentEventTypes.ClientAttached, EventActors.System,
                new ClientConnectionPayload(_connection, Protocol, afterSeq)), cancellationToken);
        }
        if (!runtime.IsBusy(session.Id))
        {
            await bus.SetStatusAsync(session.Id, SessionStatuses.Active, cancellationToken);
        }
        var agent = runtime.Catalog.Resolve(session.Agent);
        // Frame ids are seqs, and a client is shown only durable ones (a seq it saw is never handed out again after a
        // crash): a new session's id -1 and lastSeq wait for the writer like every frame the subscription sends.
        var lastSeq = await bus.GetLastSeqAsync(session.Id, cancellationToken);
        if (!await SessionLogWait.UntilDurableAsync(bus, session.Id, sessions.AppendTimeout, cancellationToken))
        {
            _logBusy = true;
            return;
        }
        await SendAsync(FrameId(session.Id, frameSeq), EventTypes.SessionStarted, JsonSerializer.Serialize(new
        {
            sessionId = session.Id,
            agent = agent.Name,
            provider = agent.Provider,
            model = agent.Model,
            approvalPolicy = runtime.Policy.WireName(),
            resumed,
            afterSeq,
            lastSeq,
        }, AgentJson.Options), cancellationToken);
        _sender = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _senderTask = SendEventsAsync(session.Id, afterSeq, _sender.Token);
    }

    private async Task DetachAsync(string reason, int? closeStatus)
    {
        if (_sessionId is not { } sessionId)
        {
            return;
        }
        _sessionId = closeStatus is null ? sessionId : null;
        if (_sender is not null)
        {
            await _sender.CancelAsync();
            // A frame being sent is finished, not cancelled (that would abort the connection), unless the client has
            // stopped reading altogether.
            if (await Task.WhenAny(_senderTask, Task.Delay(SocketClosing.Grace, time, CancellationToken.None)) != _senderTask)
            {
                socket.Abort();
            }
            await _senderTask;
            _sender.Dispose();
            _sender = null;
        }
        try
        {
            await bus.AppendAsync(sessionId, AgentJson.Event(EventDirections.Internal, AgentEventTypes.ClientDetached, EventActors.System,
                new ClientConnectionPayload(_connection, Protocol, Reason: reason, CloseStatus: closeStatus)), CancellationToken.None);
            // On shutdown the status stays as it is: the next start decides what an active session became (a pending
            // approval kept, a cut-off turn closed), and an idle mark here would hide it from that.
            if (presence.Leave(sessionId) == 0 && !_shuttingDown && !runtime.IsBusy(sessionId))
            {
                await bus.SetStatusAsync(sessionId, SessionStatuses.Idle, CancellationToken.None);
            }
        }
        catch (SessionNotFoundException)
        {
            presence.Leave(sessionId);
        }
        catch (InvalidOperationException ex)
        {
            Log.DetachNotRecorded(logger, ex, sessionId); // shutting down
        }
    }

    /// <summary>The session's outgoing events as frames, in seq order; errors about another connection's frames are skipped.</summary>
    private async Task SendEventsAsync(string sessionId, long afterSeq, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var mine = $"\"connection\":\"{_connection}\"";
        try
        {
            await foreach (var e in bus.SubscribeAsync(sessionId, afterSeq, cancellationToken))
            {
                if (e.Direction == EventDirections.Out
                    && !(e.Type == EventTypes.Error && e.Payload.Contains("\"connection\":", StringComparison.Ordinal) && !e.Payload.Contains(mine, StringComparison.Ordinal)))
                {
                    await SendAsync(FrameId(sessionId, e.Seq), e.Type, e.Payload, cancellationToken);
                }
                Volatile.Write(ref _lastSent, e.Seq);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (WebSocketException)
        {
            // the receive loop sees the connection end
        }
        catch (SessionNotFoundException)
        {
        }
    }

    /// <summary>Records an error about this connection's frame; the sender delivers it to this connection only.</summary>
    private async Task ConnectionErrorAsync(string message, string code, long? inputSeq = null, bool deliverBeforeClose = false)
    {
        if (_sessionId is not { } sessionId)
        {
            return;
        }
        var recorded = await bus.AppendAsync(sessionId, AgentJson.Event(EventDirections.Out, EventTypes.Error, EventActors.System,
            new ErrorPayload(message, code, InputSeq: inputSeq, Connection: _connection)), CancellationToken.None);
        if (deliverBeforeClose)
        {
            // The connection closes next: give the sender a moment to deliver the error first.
            var deadline = time.GetTimestamp();
            while (Volatile.Read(ref _lastSent) < recorded.Seq && time.GetElapsedTime(deadline) < TimeSpan.FromSeconds(1) && socket.State == WebSocketState.Open)
            {
                await Task.Delay(10, CancellationToken.None);
            }
        }
    }

    /// <summary>Records a frame that cannot be acted on; false when the log could not take it in time (the connection then closes).</summary>
    private async Task<bool> RecordUnreadableAsync(ReadOnlyMemory<byte> data, string problem)
    {
        if (_sessionId is not { } sessionId)
        {
            return true;
        }
        var recorded = await SessionLogWait.AppendAsync(bus, sessionId, AgentJson.Event(EventDirections.In, AgentEventTypes.UnreadableFrame, EventActors.User,
            new { problem, text = Shorten(Encoding.UTF8.GetString(data.Span[..Math.Min(data.Length, 2_048)]), 2_048), bytes = data.Length }),
            sessions.AppendTimeout, CancellationToken.None);
        _logBusy |= recorded is null;
        return recorded is not null;
    }

    private async Task SendAsync(string id, string type, string payload, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(payload.Length + 96);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", id);
            json.WriteString("type", type);
            json.WritePropertyName("payload");
            json.WriteRawValue(payload, skipInputValidation: true);
            json.WriteEndObject();
        }
        await _sendLock.WaitAsync(cancellationToken);
        try
        {
            // Not cancelled once started: cancelling a pending WebSocket send aborts the connection (see DetachAsync).
            await socket.SendAsync(buffer.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        await _sendLock.WaitAsync(CancellationToken.None);
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseOutputAsync(status, reason, timeout.Token);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // already gone
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private static string FrameId(string sessionId, long seq) => SessionLogExporter.FrameId(sessionId, seq);

    private static string? Text(JsonElement payload, string name) =>
        payload.ValueKind == JsonValueKind.Object && payload.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..max] + "\u2026";

    public async ValueTask DisposeAsync()
    {
        if (_sender is not null)
        {
            await _sender.CancelAsync();
            _sender.Dispose();
        }
        _sendLock.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "The end of a connection to session {SessionId} was not recorded")]
        public static partial void DetachNotRecorded(ILogger logger, Exception exception, string sessionId);

        [LoggerMessage(2, LogLevel.Warning, "A /ws/agent client of session {SessionId} waited {Timeout} for room in the session log; closed with 1013")]
        public static partial void LogBusy(ILogger logger, string sessionId, TimeSpan timeout);
    }
}
