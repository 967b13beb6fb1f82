using System.Globalization;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading.Channels;
using Portal.Agents.Chat;
using Portal.Agents.Runtime;
using Portal.Endpoints.Sockets;
using Portal.Security;
using Portal.Sessions;

namespace Portal.Endpoints.ChatSocket;

/// <summary>
/// One <c>/ws/chat</c> connection (seed 002 frames <c>{type, content, timestamp, correlationId}</c>): a session of kind
/// <c>chat-ws</c> whose queries are turns of the agent runtime, answered one at a time in the order they came, with the
/// final text only. Every frame that crosses the wire is an event of the session: received ones <c>in</c> (appended
/// before they are acted on), sent ones <c>out</c> (appended, then sent once durable, so a crash takes back nothing the
/// client was sent). The runtime's loop events are <c>internal</c>.
/// </summary>
internal sealed partial class ChatSocketConnection(
    WebSocket socket,
    ClaimsPrincipal user,
    ISessionBus bus,
    AgentRuntime runtime,
    SessionPresence presence,
    SocketOptions options,
    ChatSocketOptions chat,
    FloodGuard flood,
    SessionsOptions sessions,
    TimeProvider time,
    ILogger logger) : IAsyncDisposable
{
    /// <summary>How long a close we sent may wait for the client's answering close.</summary>
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);

    /// <summary>Frames are read by programs, not embedded in HTML: quotes, backticks and non-ASCII text stay as they are.</summary>
    private static readonly JsonSerializerOptions FrameJson = new(AgentJson.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly FloodGuard _flood = flood;
    private readonly Channel<PendingQuery> _queries = Channel.CreateUnbounded<PendingQuery>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private string _sessionId = "";
    private bool _titled;
    private int _waiting;
    private int _turns;
    private int _answering;
    private long _lastActivity;
    private long _lastFloodError;
    private int _ending;
    /// <summary>How the connection ends; null when it was cut without a close handshake.</summary>
    private WebSocketCloseStatus? _closeStatus = WebSocketCloseStatus.NormalClosure;
    private string _closeReason = "Goodbye";

    private string By => user.Identity?.Name ?? "user";

    /// <summary>A turn runs or queries wait: the connection is not idle, whatever the client does meanwhile.</summary>
    private bool Busy => Volatile.Read(ref _answering) == 1 || Volatile.Read(ref _waiting) > 0;

    public async Task RunAsync(string? agent, CancellationToken stopping, CancellationToken cancellationToken)
    {
        // On shutdown the client is told (1001) while the receive loop keeps waiting for its close: cancelling a
        // receive would abort the connection instead.
        using var onStopping = stopping.Register(() => _ = CloseForShutdownAsync());
        var session = await runtime.CreateSessionAsync(SessionKinds.ChatWebSocket, user.UserId(), agent, cancellationToken);
        _sessionId = session.Id;
        presence.Join(session.Id);
        Touch();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var answering = Task.CompletedTask;
        var watching = Task.CompletedTask;
        try
        {
            await bus.SetStatusAsync(session.Id, SessionStatuses.Active, cancellationToken);
            await SendAsync(Frame(ChatFrameTypes.Notification, $"Connected to Portal. Session {session.Id}.") with { SessionId = session.Id }, cancellationToken);
            answering = AnswerQueriesAsync(stop.Token);
            watching = WatchInactivityAsync(stop.Token);
            await ReceiveAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            TryEnd(null, "Connection lost"); // the client went away or the connection was aborted: no close to send
        }
        catch (SessionNotFoundException)
        {
            TryEnd(WebSocketCloseStatus.NormalClosure, "Session deleted");
        }
        await stop.CancelAsync();
        _queries.Writer.TryComplete();
        // An answer being sent is finished, unless the client has stopped reading altogether.
        if (await Task.WhenAny(answering, Task.Delay(CloseGrace, time, CancellationToken.None)) != answering)
        {
            socket.Abort();
        }
        await answering;
        await watching;
        await EndSessionAsync();
        await CloseAsync();
    }

    private async Task ReceiveAsync(CancellationToken cancellationToken)
    {
        using var reader = new SocketMessageReader(socket, options.MaxMessageBytes);
        while (Volatile.Read(ref _ending) == 0)
        {
            var message = await reader.ReadAsync(cancellationToken);
            if (Volatile.Read(ref _ending) != 0)
            {
                break; // closed meanwhile (inactivity): what the client sent since is not acted on
            }
            if (message.Status == ReadStatus.Closed)
            {
                TryEnd(WebSocketCloseStatus.NormalClosure, "Client closed");
                break;
            }
            if (message.Status == ReadStatus.TooBig)
            {
                var reason = $"Message too big (limit {options.MaxMessageBytes} bytes)";
                if (TryEnd(WebSocketCloseStatus.MessageTooBig, reason))
                {
                    await SendAsync(Error(reason + "; closing.", "message_too_big"), cancellationToken);
                }
                break;
            }
            if (!_flood.TryTake())
            {
                if (_flood.Flooding)
                {
                    if (TryEnd(WebSocketCloseStatus.PolicyViolation, "Too many messages"))
                    {
                        await SendAsync(Error($"Too many messages: {_flood.RecentlyRefused} refused in ten seconds; closing.", "rate_limited"), cancellationToken);
                    }
                    break;
                }
                var now = time.GetTimestamp();
                if (time.GetElapsedTime(_lastFloodError, now) > TimeSpan.FromSeconds(1))
                {
                    _lastFloodError = now;
                    await SendAsync(Error(
                        $"Too many messages: {_flood.Describe()}. Messages beyond it are refused, not recorded.",
                        "rate_limited"), cancellationToken);
                }
                continue;
            }
            Touch();
            await HandleAsync(message, cancellationToken);
        }
    }

    private async Task HandleAsync(SocketMessage message, CancellationToken cancellationToken)
    {
        if (message.Type != WebSocketMessageType.Text)
        {
            if (await RecordUnreadableAsync(message.Data, "binary message", cancellationToken))
            {
                await SendAsync(Error("Frames are JSON text: {\"type\", \"content\"}. Binary messages are not accepted.", "invalid_frame"), cancellationToken);
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
            if (await RecordUnreadableAsync(message.Data, "invalid JSON", cancellationToken))
            {
                await SendAsync(Error($"The frame is not valid JSON: {ex.Message}", "invalid_json"), cancellationToken);
            }
            return;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
            {
                if (await RecordUnreadableAsync(message.Data, "no type", cancellationToken))
                {
                    await SendAsync(Error("A frame is a JSON object {\"type\", \"content\"} with a string \"type\".", "invalid_frame"), cancellationToken);
                }
                return;
            }
            var type = typeElement.GetString()!;
            var correlationId = CorrelationIdOf(root);
            if (!ChatFrameTypes.FromClient.Contains(type))
            {
                var known = ChatFrameTypes.FromServer.Contains(type);
                if (await RecordUnreadableAsync(message.Data, known ? "server frame type" : "unknown type", cancellationToken))
                {
                    await SendAsync(Error(known
                        ? $"'{type}' frames are sent by the server, not by clients. Send {string.Join(", ", ChatFrameTypes.FromClient)}."
                        : $"Unknown frame type '{Shorten(type, 64)}'. Send {string.Join(", ", ChatFrameTypes.FromClient)}.", "unknown_type", correlationId), cancellationToken);
                }
                return;
            }
            var recorded = await SessionLogWait.AppendAsync(bus, _sessionId, new NewSessionEvent(EventDirections.In, type, EventActors.User, root.GetRawText(), message.Data.Length),
                sessions.AppendTimeout, cancellationToken);
            if (recorded is null)
            {
                await LogBusyAsync();
                return;
            }
            var content = root.TryGetProperty("content", out var c) ? c : default;
            switch (type)
            {
                case ChatFrameTypes.Query:
                    await QueryAsync(content, recorded.Seq, correlationId, cancellationToken);
                    break;
                case ChatFrameTypes.Command:
                    await CommandAsync(content, correlationId, cancellationToken);
                    break;
                case ChatFrameTypes.Feedback:
                    await SendAsync(content.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null || (content.ValueKind == JsonValueKind.String && content.GetString()!.Length == 0)
                        ? Error("feedback needs a \"content\": the feedback, as text or a JSON object.", "invalid_payload", correlationId)
                        : Frame(ChatFrameTypes.Status, "Feedback received", correlationId), cancellationToken);
                    break;
            }
        }
    }

    /// <summary>Acknowledges a query at once ("Thinking...") and queues it; the answering loop runs it as a turn.</summary>
    private async Task QueryAsync(JsonElement content, long inputSeq, string? correlationId, CancellationToken cancellationToken)
    {
        var text = content.ValueKind == JsonValueKind.String ? content.GetString()! : null;
        if (string.IsNullOrWhiteSpace(text))
        {
            await SendAsync(Error("A query needs \"content\": the question, as non-empty text.", "invalid_payload", correlationId), cancellationToken);
            return;
        }
        if (text.Length > chat.MaxQueryLength)
        {
            await SendAsync(Error($"The query is {text.Length} characters; at most {chat.MaxQueryLength} are accepted.", "input_too_long", correlationId), cancellationToken);
            return;
        }
        if (Volatile.Read(ref _waiting) >= chat.MaxWaitingQueries)
        {
            await SendAsync(Error($"{chat.MaxWaitingQueries} queries already wait for an answer; this one was not queued. Send it again after the next response.",
                "queue_full", correlationId), cancellationToken);
            return;
        }
        correlationId ??= Guid.NewGuid().ToString("N");
        if (!_titled)
        {
            _titled = true;
            await bus.SetTitleAsync(_sessionId, ChatService.TitleFrom(text), cancellationToken);
        }
        await SendAsync(Frame(ChatFrameTypes.Status, "Thinking...", correlationId), cancellationToken);
        Interlocked.Increment(ref _waiting);
        _queries.Writer.TryWrite(new PendingQuery(inputSeq, text, correlationId));
    }

    private async Task CommandAsync(JsonElement content, string? correlationId, CancellationToken cancellationToken)
    {
        var command = content.ValueKind == JsonValueKind.String ? content.GetString()!.Trim().ToLowerInvariant() : null;
        switch (command)
        {
            case ChatCommands.Ping:
                await SendAsync(Frame(ChatFrameTypes.Status, "pong", correlationId), cancellationToken);
                break;
            case ChatCommands.History:
                var turns = Volatile.Read(ref _turns);
                await SendAsync(Frame(ChatFrameTypes.Status, turns == 1 ? "1 turn so far" : $"{turns} turns so far", correlationId) with { Turns = turns }, cancellationToken);
                break;
            case ChatCommands.End:
                if (TryEnd(WebSocketCloseStatus.NormalClosure, "Session ended"))
                {
                    await SendAsync(Frame(ChatFrameTypes.Notification, "Session ended", correlationId), cancellationToken);
                }
                break;
            default:
                await SendAsync(Error(command is null
                    ? $"A command needs \"content\": one of {string.Join(", ", ChatCommands.All)}."
                    : $"Unknown command '{Shorten(command, 64)}'. Known: {string.Join(", ", ChatCommands.All)}.", "unknown_command", correlationId), cancellationToken);
                break;
        }
    }

    /// <summary>Runs the queued queries one at a time, in order, each as a turn of the session, and sends how each ended.</summary>
    private async Task AnswerQueriesAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var query in _queries.Reader.ReadAllAsync(cancellationToken))
            {
                Volatile.Write(ref _answering, 1); // before the query leaves the waiting count, so the connection never looks idle between
                Interlocked.Decrement(ref _waiting);
                try
                {
                    await AnswerAsync(query, cancellationToken);
                }
                finally
                {
                    Touch();
                    Volatile.Write(ref _answering, 0);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is WebSocketException or SessionNotFoundException)
        {
            // the receive loop sees the connection or the session end
        }
    }

    private async Task AnswerAsync(PendingQuery query, CancellationToken cancellationToken)
    {
        // Tools are off: this protocol has no frames to ask for approval.
        var start = await runtime.StartTurnAsync(_sessionId, query.InputSeq, query.Text, cancelCurrent: false, toolsEnabled: false, By);
        switch (start.Status)
        {
            case TurnStartStatus.Busy:
                await SendAsync(Error("Another turn is running in this session; this query was not answered.", "busy", query.CorrelationId), cancellationToken);
                return;
            case TurnStartStatus.NotFound:
                await SendAsync(Error("The session no longer exists.", "session_not_found", query.CorrelationId), cancellationToken);
                return;
        }
        Interlocked.Increment(ref _turns);
        var outcome = await start.Completion!.WaitAsync(cancellationToken);
        await SendAsync(outcome.Status switch
        {
            TurnStatuses.Completed => Frame(ChatFrameTypes.Response, outcome.FinalText, query.CorrelationId),
            TurnStatuses.Cancelled => Error(outcome.Error ?? "The turn was cancelled before it answered.", outcome.ErrorCode ?? "cancelled", query.CorrelationId),
            TurnStatuses.Interrupted => Error(outcome.Error ?? "Portal stopped while answering.", outcome.ErrorCode ?? "interrupted", query.CorrelationId),
            _ => Error(outcome.Error ?? "The agent stopped before it answered.", outcome.ErrorCode ?? "agent_failed", query.CorrelationId),
        }, cancellationToken);
    }

    /// <summary>Closes the connection once it has been idle for <see cref="ChatSocketOptions.SessionTimeout"/>; a running turn keeps it open.</summary>
    private async Task WatchInactivityAsync(CancellationToken cancellationToken)
    {
        try
        {
            var timeout = chat.SessionTimeout;
            while (true)
            {
                var idle = Busy ? TimeSpan.Zero : time.GetElapsedTime(Volatile.Read(ref _lastActivity));
                if (idle >= timeout)
                {
                    break;
                }
                await Task.Delay(timeout - idle, time, cancellationToken);
            }
            if (!TryEnd(WebSocketCloseStatus.NormalClosure, "Session timeout"))
            {
                return;
            }
            Log.TimedOut(logger, _sessionId, timeout);
            await SendAsync(Frame(ChatFrameTypes.Notification, "Session closed due to inactivity"), cancellationToken);
            // The receive loop is waiting for a frame: our close makes the client answer with its own, which ends it.
            await CloseOutputAsync();
            await Task.Delay(CloseGrace, time, cancellationToken);
            socket.Abort();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is WebSocketException or SessionNotFoundException)
        {
        }
    }

    private async Task CloseForShutdownAsync()
    {
        if (TryEnd(WebSocketCloseStatus.EndpointUnavailable, "Server stopping"))
        {
            try
            {
                await CloseOutputAsync();
                // A client that never answers the close must not hold up the shutdown.
                await Task.Delay(CloseGrace, time, CancellationToken.None);
                if (socket.State != WebSocketState.Closed)
                {
                    socket.Abort();
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Decides how the connection ends; the first decision wins.</summary>
    private bool TryEnd(WebSocketCloseStatus? status, string reason)
    {
        if (Interlocked.CompareExchange(ref _ending, 1, 0) != 0)
        {
            return false;
        }
        (_closeStatus, _closeReason) = (status, reason);
        return true;
    }

    private void Touch() => Volatile.Write(ref _lastActivity, time.GetTimestamp());

    /// <summary>The session is over: a running turn stops, and the log says how the connection ended.</summary>
    private async Task EndSessionAsync()
    {
        presence.Leave(_sessionId);
        try
        {
            await runtime.ForgetAsync(_sessionId);
            await bus.AppendAsync(_sessionId, AgentJson.Event(EventDirections.Internal, EventTypes.SessionEnded, EventActors.System,
                new { reason = _closeReason, closeStatus = (int?)_closeStatus }), CancellationToken.None);
            await bus.SetStatusAsync(_sessionId, SessionStatuses.Ended, CancellationToken.None);
        }
        catch (SessionNotFoundException)
        {
        }
        catch (InvalidOperationException ex)
        {
            Log.EndNotRecorded(logger, ex, _sessionId); // shutting down
        }
    }

    /// <summary>
    /// Appends the frame as an outgoing event, then sends it once it is durable; nothing is recorded once the connection
    /// cannot send. A frame the log cannot make durable within the append timeout is not sent: the client gets 1013.
    /// </summary>
    private async Task SendAsync(ChatFrame frame, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(frame, FrameJson);
        var logBusy = false;
        await _sendLock.WaitAsync(cancellationToken);
        try
        {
            if (socket.State != WebSocketState.Open)
            {
                return;
            }
            var actor = frame.Type == ChatFrameTypes.Response ? EventActors.Agent : EventActors.System;
            await bus.AppendAsync(_sessionId, new NewSessionEvent(EventDirections.Out, frame.Type, actor, Encoding.UTF8.GetString(json), json.Length), CancellationToken.None);
            if (await SessionLogWait.UntilDurableAsync(bus, _sessionId, sessions.AppendTimeout, cancellationToken))
            {
                // Not cancelled once started: cancelling a pending WebSocket send aborts the connection, and the close
                // that follows the end of the receive loop would never be sent (see RunAsync).
                await socket.SendAsync(json, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
            }
            else
            {
                logBusy = true;
            }
        }
        finally
        {
            _sendLock.Release();
        }
        if (logBusy)
        {
            await LogBusyAsync();
        }
    }

    /// <summary>The session log could not keep up with this connection within the append timeout: the client is told with 1013.</summary>
    private async Task LogBusyAsync()
    {
        if (TryEnd(SessionLogWait.TryAgainLater, SessionLogWait.Reason))
        {
            Log.LogBusy(logger, _sessionId, sessions.AppendTimeout);
            // The receive loop ends on the client's answering close.
            await CloseOutputAsync();
        }
    }

    private async Task CloseOutputAsync()
    {
        await _sendLock.WaitAsync(CancellationToken.None);
        try
        {
            if (_closeStatus is { } status && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(CloseGrace);
                await socket.CloseOutputAsync(status, _closeReason, timeout.Token);
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

    /// <summary>Sends our close (unless sent already), then reads what the client still sends until its close, briefly.</summary>
    private async Task CloseAsync()
    {
        await CloseOutputAsync();
        await SocketClosing.DrainUntilClosedAsync(socket);
    }

    /// <summary>Records a frame that cannot be acted on; false when the log could not take it in time (the client is then closed with 1013).</summary>
    private async Task<bool> RecordUnreadableAsync(ReadOnlyMemory<byte> data, string problem, CancellationToken cancellationToken)
    {
        var recorded = await SessionLogWait.AppendAsync(bus, _sessionId, AgentJson.Event(EventDirections.In, AgentEventTypes.UnreadableFrame, EventActors.User,
            new { problem, text = Shorten(Encoding.UTF8.GetString(data.Span[..Math.Min(data.Length, 2_048)]), 2_048), bytes = data.Length }),
            sessions.AppendTimeout, cancellationToken);
        if (recorded is null)
        {
            await LogBusyAsync();
        }
        return recorded is not null;
    }

    private ChatFrame Frame(string type, string content, string? correlationId = null) =>
        new(type, content, time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), correlationId);

    private ChatFrame Error(string message, string code, string? correlationId = null) =>
        Frame(ChatFrameTypes.Error, message, correlationId) with { Code = code };

    /// <summary>What the client named its frame: <c>correlationId</c>, else <c>id</c> (a string or a number).</summary>
    private static string? CorrelationIdOf(JsonElement frame)
    {
        foreach (var name in (ReadOnlySpan<string>)["correlationId", "id"])
        {
            if (frame.TryGetProperty(name, out var value))
            {
                switch (value.ValueKind)
                {
                    case JsonValueKind.String when value.GetString() is { Length: > 0 } text:
                        return Shorten(text, 200);
                    case JsonValueKind.Number:
                        return value.GetRawText();
                }
            }
        }
        return null;
    }

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..max] + "\u2026";

    public ValueTask DisposeAsync()
    {
        _sendLock.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record PendingQuery(long InputSeq, string Text, string CorrelationId);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Chat session {SessionId} closed after {Timeout} without activity")]
        public static partial void TimedOut(ILogger logger, string sessionId, TimeSpan timeout);

        [LoggerMessage(2, LogLevel.Debug, "The end of chat session {SessionId} was not recorded")]
        public static partial void EndNotRecorded(ILogger logger, Exception exception, string sessionId);

        [LoggerMessage(3, LogLevel.Warning, "A /ws/chat client of session {SessionId} waited {Timeout} for the session log; closed with 1013")]
        public static partial void LogBusy(ILogger logger, string sessionId, TimeSpan timeout);
    }
}
