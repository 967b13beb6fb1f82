using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Portal.Proxy.Telemetry;
using Portal.Sessions;

namespace Portal.Endpoints.Ces;

/// <summary>
/// Records every proxied widget connection as a session of kind <c>ces-proxy</c>: its config (without the token),
/// the upstream and its timing, each text frame both ways (payload kept up to the proxy's recorded size), audio
/// and binary frames counted, and how the connection closed. Text-mode requests are recorded in one session per
/// CES session name.
/// </summary>
internal sealed partial class CesSessionRecorder(
    ISessionBus bus,
    IOptions<CesRecordingOptions> options,
    TimeProvider time,
    ILogger<CesSessionRecorder> logger) : ICesProxyObserver
{
    private const int MaxTextSessions = 10_000;
    private readonly ConcurrentDictionary<string, string> _textSessions = new(StringComparer.Ordinal);

    public async ValueTask<ICesConnectionObserver> ConnectionOpenedAsync(CesConnectionInfo connection, CancellationToken cancellationToken)
    {
        var session = await bus.CreateSessionAsync(
            new NewSession(SessionKinds.CesProxy, OwnerId: null, Title: "Widget connection" + (connection.Origin is null ? "" : $" from {connection.Origin}")),
            cancellationToken);
        await bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.Internal, EventTypes.SessionStarted, EventActors.Proxy,
            new { connection.ConnectionId, connection.Origin, connection.RemoteAddress, connection.Path }), cancellationToken);
        return new ConnectionRecorder(bus, session.Id, options.Value.RecordFrames, time, logger);
    }

    public async ValueTask TextExchangeAsync(CesTextExchange exchange, CancellationToken cancellationToken)
    {
        try
        {
            var sessionId = await TextSessionAsync(exchange, cancellationToken);
            await bus.AppendAsync(sessionId, new NewSessionEvent(EventDirections.In, "text_request", EventActors.Participant,
                Json.Exchange(new { exchange.Method, exchange.Path }, exchange.RequestBody),
                exchange.RequestBody?.Length ?? 0), cancellationToken);
            await bus.AppendAsync(sessionId, new NewSessionEvent(EventDirections.Out, "text_response", EventActors.Agent,
                Json.Exchange(new { exchange.Status, durationMs = Math.Round(exchange.Duration.TotalMilliseconds, 1) }, exchange.ResponseBody),
                exchange.ResponseBody?.Length ?? 0), cancellationToken);
        }
        catch (Exception ex) when (ex is SessionNotFoundException or InvalidOperationException)
        {
            Log.NotRecorded(logger, ex);
        }
    }

    private async Task<string> TextSessionAsync(CesTextExchange exchange, CancellationToken cancellationToken)
    {
        // "projects/P/locations/L/apps/A/sessions/S:runSession" belongs to the conversation "…/sessions/S".
        var name = exchange.Path.Split(':', 2)[0];
        if (_textSessions.TryGetValue(name, out var known))
        {
            return known;
        }
        if (_textSessions.Count >= MaxTextSessions)
        {
            _textSessions.Clear();
        }
        var session = await bus.CreateSessionAsync(new NewSession(SessionKinds.CesProxy, null, Title: "Text mode " + ShortName(name), Agent: AppOf(name)), cancellationToken);
        await bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.Internal, EventTypes.SessionStarted, EventActors.Proxy,
            new { mode = "text", session = name, exchange.Origin }), cancellationToken);
        return _textSessions.GetOrAdd(name, session.Id);
    }

    internal static string ShortName(string session)
    {
        var parts = session.Split('/');
        var index = Array.IndexOf(parts, "sessions");
        return index >= 0 && index + 1 < parts.Length ? "session " + parts[index + 1] : session;
    }

    /// <summary>The app or agent a session belongs to: everything before "/sessions/".</summary>
    internal static string? AppOf(string session)
    {
        var index = session.IndexOf("/sessions/", StringComparison.Ordinal);
        return index > 0 ? session[..index] : null;
    }

    private sealed class ConnectionRecorder(ISessionBus bus, string sessionId, bool recordFrames, TimeProvider time, ILogger logger) : ICesConnectionObserver
    {
        private static readonly TimeSpan StatsInterval = TimeSpan.FromSeconds(10);
        private readonly FrameStats _stats = new();
        private readonly long _opened = time.GetTimestamp();
        private long _lastStats = time.GetTimestamp();

        public async ValueTask ConfigAcceptedAsync(CesConfigInfo config, CancellationToken cancellationToken)
        {
            await AppendAsync(new NewSessionEvent(EventDirections.In, "config", EventActors.Participant,
                Json.Frame(config.Forwarded.Span, config.Forwarded.Length), config.Forwarded.Length), cancellationToken);
            await AppendAsync(NewSessionEvent.FromObject(EventDirections.Internal, "upstream", EventActors.Proxy, new
            {
                url = config.Upstream.ToString(),
                config.Session,
                tokenFrom = config.ClientToken ? "client" : "proxy",
                config.Environment,
            }), cancellationToken);
            await bus.SetTitleAsync(sessionId, "Widget " + ShortName(config.Session), cancellationToken);
            if (AppOf(config.Session) is { } app)
            {
                await bus.SetAgentAsync(sessionId, app, cancellationToken);
            }
        }

        public ValueTask UpstreamConnectedAsync(Uri upstream, TimeSpan connectTime, CancellationToken cancellationToken) =>
            AppendAsync(NewSessionEvent.FromObject(EventDirections.Internal, "upstream_connected", EventActors.Proxy,
                new { url = upstream.ToString(), connectMs = Math.Round(connectTime.TotalMilliseconds, 1) }), cancellationToken);

        public ValueTask FirstUpstreamByteAsync(TimeSpan sinceConfigSent, CancellationToken cancellationToken) =>
            AppendAsync(NewSessionEvent.FromObject(EventDirections.Internal, "upstream_first_byte", EventActors.Proxy,
                new { msAfterConfig = Math.Round(sinceConfigSent.TotalMilliseconds, 1) }), cancellationToken);

        public async ValueTask FrameAsync(FrameDirection direction, FrameKind kind, WebSocketMessageType type, ReadOnlyMemory<byte> recorded, long size, CancellationToken cancellationToken)
        {
            if (kind == FrameKind.Text && recordFrames)
            {
                var inbound = direction == FrameDirection.ClientToUpstream;
                await AppendAsync(new NewSessionEvent(
                    inbound ? EventDirections.In : EventDirections.Out,
                    EventTypes.ProxyFrame,
                    inbound ? EventActors.Participant : EventActors.Agent,
                    Json.Frame(recorded.Span, size),
                    (int)Math.Min(size, int.MaxValue)), cancellationToken);
                return;
            }
            _stats.Count(direction, kind, size);
            var now = time.GetTimestamp();
            var last = Interlocked.Read(ref _lastStats);
            if (time.GetElapsedTime(last, now) >= StatsInterval && Interlocked.CompareExchange(ref _lastStats, now, last) == last)
            {
                await AppendAsync(NewSessionEvent.FromObject(EventDirections.Internal, "proxy_stats", EventActors.Proxy, _stats.Snapshot()), cancellationToken);
            }
        }

        public async ValueTask ClosedAsync(CesCloseInfo close, CancellationToken cancellationToken)
        {
            await AppendAsync(NewSessionEvent.FromObject(EventDirections.Internal, EventTypes.SessionEnded, EventActors.Proxy, new
            {
                close.Initiator,
                close.Detail,
                client = new { code = close.ClientCloseStatus, reason = close.ClientCloseReason },
                upstream = new { code = close.UpstreamCloseStatus, reason = close.UpstreamCloseReason },
                durationMs = Math.Round(time.GetElapsedTime(_opened).TotalMilliseconds),
                frames = _stats.Snapshot(),
            }), cancellationToken);
            try
            {
                await bus.SetStatusAsync(sessionId, SessionStatuses.Ended, cancellationToken);
            }
            catch (SessionNotFoundException)
            {
            }
        }

        private async ValueTask AppendAsync(NewSessionEvent e, CancellationToken cancellationToken)
        {
            try
            {
                await bus.AppendAsync(sessionId, e, cancellationToken);
            }
            catch (Exception ex) when (ex is SessionNotFoundException or InvalidOperationException)
            {
                // Deleted by an admin meanwhile, or Portal is shutting down.
                Log.NotRecorded(logger, ex);
            }
        }
    }

    /// <summary>Frames recorded as counts only (audio, binary, and text when frame content is not recorded), per direction.</summary>
    private sealed class FrameStats
    {
        // [kind, direction, frames|bytes]
        private readonly long[] _counts = new long[3 * 2 * 2];

        public void Count(FrameDirection direction, FrameKind kind, long size)
        {
            var slot = ((int)kind * 2 + (direction == FrameDirection.ClientToUpstream ? 0 : 1)) * 2;
            Interlocked.Increment(ref _counts[slot]);
            Interlocked.Add(ref _counts[slot + 1], size);
        }

        public object Snapshot() => new
        {
            text = Of(FrameKind.Text),
            audio = Of(FrameKind.Audio),
            binary = Of(FrameKind.Binary),
        };

        private object Of(FrameKind kind)
        {
            var slot = (int)kind * 4;
            return new
            {
                @in = new { frames = Interlocked.Read(ref _counts[slot]), bytes = Interlocked.Read(ref _counts[slot + 1]) },
                @out = new { frames = Interlocked.Read(ref _counts[slot + 2]), bytes = Interlocked.Read(ref _counts[slot + 3]) },
            };
        }
    }

    /// <summary>Recorded payloads: a frame that arrived whole and is JSON is kept as is; anything else as a preview with its size.</summary>
    internal static class Json
    {
        private const int PreviewBytes = 4096;

        public static string Frame(ReadOnlySpan<byte> recorded, long size) =>
            recorded.Length == size && IsJson(recorded)
                ? Encoding.UTF8.GetString(recorded)
                : JsonSerializer.Serialize(Preview(recorded, size));

        /// <summary>A text-mode request or answer: what it was, and its body.</summary>
        public static string Exchange(object context, byte[]? body) => JsonSerializer.Serialize(new
        {
            context,
            body = body is null ? null : IsJson(body) ? JsonDocument.Parse(body).RootElement : (object)Preview(body, body.Length),
        });

        private static object Preview(ReadOnlySpan<byte> recorded, long size) => new
        {
            truncated = recorded.Length < size,
            originalBytes = size,
            preview = Encoding.UTF8.GetString(recorded[..Math.Min(recorded.Length, PreviewBytes)]),
        };

        /// <summary>
        /// One JSON value, nested at most 64 deep, whose strings are all text: a string escaping a lone surrogate
        /// (<c>"\ud800"</c>) is JSON's grammar but not text, and stored as JSON it would make the log unreadable, so
        /// such a frame is kept as a preview like anything else that is not JSON.
        /// </summary>
        private static bool IsJson(ReadOnlySpan<byte> utf8)
        {
            try
            {
                var reader = new Utf8JsonReader(utf8);
                var values = 0;
                while (reader.Read())
                {
                    values++;
                    if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped)
                    {
                        reader.GetString();
                    }
                }
                return values > 0;
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                return false;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "A proxy event was not recorded")]
        public static partial void NotRecorded(ILogger logger, Exception exception);
    }
}
