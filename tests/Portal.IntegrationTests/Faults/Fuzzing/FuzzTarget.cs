using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Portal.IntegrationTests.Faults.Fuzzing;

/// <summary>Where Portal is, who the fuzzing user is (their cookies), and where the CES proxy's healthy upstream is.</summary>
internal sealed record FuzzContext(Uri BaseAddress, CookieContainer Cookies);

/// <summary>One fuzzed connection: the frames sent on it (by hash, for targets whose replies echo them), and how many replies came.</summary>
internal sealed class FuzzConnection
{
    private readonly ConcurrentDictionary<string, bool> _sent = new(StringComparer.Ordinal);
    private int _sentCount;
    private int _replies;
    private long _lastReply = Environment.TickCount64;
    private int _closing;

    /// <summary>The last frames sent, shortened, for reports (lock it to read it).</summary>
    public Queue<string> Recent { get; } = new();

    public int SentCount => Volatile.Read(ref _sentCount);

    public int ReplyCount => Volatile.Read(ref _replies);

    /// <summary>True for the first caller only: the sender (its burst done) and the reader (answering the server) both close.</summary>
    public bool TryStartClose() => Interlocked.Exchange(ref _closing, 1) == 0;

    /// <summary>The last frame sent was a text frame that is not UTF-8: the WebSocket layer ends the connection for it.</summary>
    public volatile bool BrokeProtocol;

    public void Sent(FuzzFrame frame)
    {
        _sent.TryAdd(Hash(frame), true);
        Interlocked.Increment(ref _sentCount);
    }

    public void Replied()
    {
        Interlocked.Increment(ref _replies);
        Interlocked.Exchange(ref _lastReply, Environment.TickCount64);
    }

    /// <summary>
    /// Waits until at most <paramref name="window"/> frames are ahead of the replies, or replies have stopped coming for a
    /// moment (not every frame is answered), or the connection has ended.
    /// </summary>
    public async Task CatchUpAsync(int window, Task reading)
    {
        while (Volatile.Read(ref _sentCount) - Volatile.Read(ref _replies) > window && !reading.IsCompleted
            && Environment.TickCount64 - Interlocked.Read(ref _lastReply) < 300)
        {
            await Task.Delay(2);
        }
    }

    public bool WasSent(FuzzFrame frame) => _sent.ContainsKey(Hash(frame));

    private static string Hash(FuzzFrame frame) => (int)frame.Type + Convert.ToBase64String(SHA256.HashData(frame.Data));
}

/// <summary>
/// One WebSocket endpoint under fuzz: its path, the handshake its protocol needs (if any), valid client frames for the
/// fuzzer to mutate, and what a well-formed reply and a proper close are. Adding an endpoint (the SignalR hub at
/// <c>/hubs/session</c>) is a subclass like these and one line in <see cref="FuzzTests.Targets"/>.
/// </summary>
internal abstract partial class FuzzTarget
{
    public abstract string Name { get; }

    public abstract string Path { get; }

    /// <summary>Valid client frames, the material the fuzzer mutates.</summary>
    public abstract IReadOnlyList<string> ValidFrames { get; }

    /// <summary>
    /// Close codes the server may end a fuzzed connection with; 1007 is the WebSocket layer's own answer to a text message
    /// that is not UTF-8 (RFC 6455 7.4.1), sent before the endpoint sees the message.
    /// </summary>
    protected abstract IReadOnlySet<int> ProperCloses { get; }

    /// <summary>Options of the client socket before it connects: by default the fuzzing user's cookies.</summary>
    public virtual void Configure(ClientWebSocketOptions options, FuzzContext context) => options.Cookies = context.Cookies;

    /// <summary>Sent once connected, before any fuzzed frame (a protocol handshake, a config message).</summary>
    public virtual Task OpenAsync(ClientWebSocket socket, FuzzConnection connection, Random random, CancellationToken cancellationToken) => Task.CompletedTask;

    public virtual FuzzFrame NextFrame(Random random) => FrameFuzzer.Next(random, ValidFrames);

    /// <summary>Null when a message the server sent is well formed, else what is wrong with it.</summary>
    public abstract string? CheckReply(FuzzFrame reply, FuzzConnection connection);

    /// <summary>Null when the server's close is a proper one, else what is wrong with it.</summary>
    public virtual string? CheckClose(WebSocketCloseStatus? status, string? reason) =>
        status is { } code && ProperCloses.Contains((int)code) ? null : $"closed with {(int?)status} '{reason}'";

    protected static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    [GeneratedRegex("^[0-9a-f]{32}-[0-9]+$")]
    protected static partial Regex FrameId();
}

/// <summary><c>/ws/agent</c>: every server frame is <c>{id: "{session}-{seq}", type, payload: {}}</c>; errors carry a known code.</summary>
internal sealed class AgentSocketTarget : FuzzTarget
{
    private static readonly HashSet<string> ServerTypes =
        ["session_started", "loading_state", "response_delta", "response_item", "approval_request", "agent_finished", "error", "context_info", "context_compacted"];

    // agent_failed (an unexpected failure inside Portal) is deliberately not among them.
    private static readonly HashSet<string> ErrorCodes =
        ["invalid_json", "invalid_frame", "unknown_type", "invalid_payload", "input_too_long", "busy", "not_running", "no_pending_approval",
         "unknown_call_id", "session_not_found", "rate_limited", "too_many_messages", "message_too_big", "compaction_failed"];

    public override string Name => "/ws/agent";

    public override string Path => "/ws/agent";

    protected override IReadOnlySet<int> ProperCloses { get; } = new HashSet<int> { 1000, 1007, 1008, 1009, 1013 };

    public override IReadOnlyList<string> ValidFrames { get; } =
    [
        """{"id":"c1","type":"user_input","payload":{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hello there"}]}]}}""",
        """{"type":"user_input","payload":{"text":"list the files","cancelCurrent":true,"previousResponseId":"resp_1"}}""",
        """{"type":"approval_response","payload":{"review":"yes","callId":"call_1","customDenyMessage":"no"}}""",
        """{"type":"approval_response","payload":{"review":"no-continue","call_id":"call_2"}}""",
        """{"type":"cancel"}""",
        """{"type":"get_context_info","payload":{}}""",
        """{"type":"manual_compact"}""",
        """{"type":"resume","payload":{"sessionId":"0123456789abcdef0123456789abcdef","afterSeq":0}}""",
        """{"type":"agent_finished","payload":{"status":"completed"}}""",
        """{"type":"error","payload":{"message":"x","code":"y"}}""",
    ];

    public override string? CheckReply(FuzzFrame reply, FuzzConnection connection)
    {
        if (reply.Type != WebSocketMessageType.Text)
        {
            return "a binary frame";
        }
        using var document = FrameFuzzer.ParseJson(reply.Data);
        if (document?.RootElement is not { ValueKind: JsonValueKind.Object } frame)
        {
            return "a frame that is not a JSON object: " + Shorten(reply.AsText());
        }
        if (Text(frame, "id") is not { } id || !FrameId().IsMatch(id))
        {
            return "a frame without a {session}-{seq} id: " + Shorten(reply.AsText());
        }
        if (Text(frame, "type") is not { } type || !ServerTypes.Contains(type))
        {
            return "a frame of an unknown type: " + Shorten(reply.AsText());
        }
        if (!frame.TryGetProperty("payload", out var payload) || payload.ValueKind != JsonValueKind.Object)
        {
            return "a frame without a payload object: " + Shorten(reply.AsText());
        }
        if (type == "error" && (Text(payload, "code") is not { } code || !ErrorCodes.Contains(code) || string.IsNullOrEmpty(Text(payload, "message"))))
        {
            return "an error without a known code and a message: " + Shorten(reply.AsText());
        }
        return null;
    }

    internal static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "...";
}

/// <summary><c>/ws/chat</c>: every server frame is <c>{type, content, timestamp}</c>; errors carry a known code.</summary>
internal sealed class ChatSocketTarget : FuzzTarget
{
    private static readonly HashSet<string> ServerTypes = ["notification", "status", "response", "error"];

    private static readonly HashSet<string> ErrorCodes =
        ["invalid_json", "invalid_frame", "unknown_type", "invalid_payload", "input_too_long", "queue_full", "unknown_command", "busy",
         "session_not_found", "rate_limited", "message_too_big", "cancelled", "interrupted"];

    public override string Name => "/ws/chat";

    public override string Path => "/ws/chat";

    protected override IReadOnlySet<int> ProperCloses { get; } = new HashSet<int> { 1000, 1007, 1008, 1009, 1013 };

    public override IReadOnlyList<string> ValidFrames { get; } =
    [
        """{"type":"query","content":"What is a WebSocket?","id":"q-1","timestamp":"2025-06-01T10:00:00Z"}""",
        """{"type":"query","content":"hi","correlationId":12345}""",
        """{"type":"command","content":"ping","id":"p1"}""",
        """{"type":"command","content":"history"}""",
        """{"type":"command","content":"end"}""",
        """{"type":"command","content":"reboot"}""",
        """{"type":"feedback","content":{"rating":5,"comment":"Helpful"},"id":"f1"}""",
        """{"type":"feedback","content":"thanks"}""",
        """{"type":"response","content":"I am the server"}""",
    ];

    public override string? CheckReply(FuzzFrame reply, FuzzConnection connection)
    {
        if (reply.Type != WebSocketMessageType.Text)
        {
            return "a binary frame";
        }
        using var document = FrameFuzzer.ParseJson(reply.Data);
        if (document?.RootElement is not { ValueKind: JsonValueKind.Object } frame)
        {
            return "a frame that is not a JSON object: " + AgentSocketTarget.Shorten(reply.AsText());
        }
        if (Text(frame, "type") is not { } type || !ServerTypes.Contains(type) || Text(frame, "content") is null || Text(frame, "timestamp") is null)
        {
            return "a frame without a known type, a content and a timestamp: " + AgentSocketTarget.Shorten(reply.AsText());
        }
        if (type == "error" && (Text(frame, "code") is not { } code || !ErrorCodes.Contains(code)))
        {
            return "an error without a known code: " + AgentSocketTarget.Shorten(reply.AsText());
        }
        return null;
    }
}

/// <summary>
/// <c>/ces</c>: most connections open with a valid config (the upstream, an echo server, then sends every frame back), some
/// with a fuzzed one. A reply is an echo of something sent on the connection, or the proxy's <c>connection_closed</c> frame.
/// </summary>
internal sealed class CesProxyTarget : FuzzTarget
{
    private const string Config =
        """{"config":{"session":"projects/p/locations/us/apps/a/sessions/s-1","inputAudioConfig":{"audioEncoding":"LINEAR16","sampleRateHertz":16000},"deployment":"projects/p/locations/us/apps/a/deployments/d","accessToken":"ya29.fuzz"}}""";

    public override string Name => "/ces";

    public override string Path => "/ces";

    protected override IReadOnlySet<int> ProperCloses { get; } = new HashSet<int> { 1000, 1002, 1007, 1009, 1011 };

    public override IReadOnlyList<string> ValidFrames { get; } =
    [
        """{"realtimeInput":{"text":"hi!"}}""",
        """{"realtimeInput":{"audio":"AAAAAAAAAAAAAAAAAAAAAA=="}}""",
        """{"realtimeInput":{"variables":{"name":"Ada","vip":true}}}""",
        """{"realtimeInput":{"image":{"data":"iVBORw0KGgo=","mime_type":"image/png"}}}""",
        """{"realtimeInput":{"toolResponses":{"toolResponses":[{"id":"t1","response":{"ok":1}}]}}}""",
        Config,
        """{"configMessage":{"session":"projects/p/locations/global/agents/a/sessions/s-2"}}""",
    ];

    public override void Configure(ClientWebSocketOptions options, FuzzContext context) => options.SetRequestHeader("Origin", "https://shop.example.com");

    public override async Task OpenAsync(ClientWebSocket socket, FuzzConnection connection, Random random, CancellationToken cancellationToken)
    {
        // One connection in five starts with a fuzzed config: it is refused (1002, 1009) or, when it still names a session, accepted.
        var config = random.Next(5) == 0 ? FrameFuzzer.Next(random, [Config]) : FuzzFrame.Text(Config);
        await socket.SendAsync(config.Data, config.Type, true, cancellationToken);
    }

    public override string? CheckReply(FuzzFrame reply, FuzzConnection connection)
    {
        if (connection.WasSent(reply))
        {
            return null;
        }
        using var document = FrameFuzzer.ParseJson(reply.Data);
        return document?.RootElement is { ValueKind: JsonValueKind.Object } frame && frame.TryGetProperty("connection_closed", out _)
            ? null
            : "neither an echo of a frame sent nor a connection_closed frame: " + AgentSocketTarget.Shorten(reply.AsText());
    }

    /// <summary>1011 only as documented: the upstream refused or could not be reached, or no token could be had.</summary>
    public override string? CheckClose(WebSocketCloseStatus? status, string? reason) =>
        status == WebSocketCloseStatus.InternalServerError
            && reason?.StartsWith("Upstream service unavailable", StringComparison.Ordinal) != true
            && reason?.Contains("authentication", StringComparison.Ordinal) != true
            ? $"closed with 1011 '{reason}'"
            : base.CheckClose(status, reason);
}

/// <summary>
/// <c>/hubs/session</c>: the SignalR JSON hub protocol straight over WebSockets (as <c>skipNegotiation</c> clients
/// connect), the handshake and a <c>JoinSession</c> first. Every message the server sends is a record ending in 0x1E
/// that is a JSON object: the handshake answer, or a hub message of a known type; invocations from the server are
/// only the <c>message</c> and <c>error</c> callbacks.
/// </summary>
internal sealed class SessionHubTarget : FuzzTarget
{
    private const char RecordSeparator = '\u001e';
    private static readonly HashSet<int> MessageTypes = [1, 2, 3, 6, 7];

    public override string Name => "/hubs/session";

    public override string Path => "/hubs/session";

    protected override IReadOnlySet<int> ProperCloses { get; } = new HashSet<int> { 1000, 1007, 1008, 1009 };

    public override IReadOnlyList<string> ValidFrames { get; } =
    [
        """{"type":1,"invocationId":"1","target":"Send","arguments":[{"type":"user.action","data":{"action":"button.clicked","buttonId":"submit"}}]}""",
        """{"type":1,"target":"Send","arguments":[{"id":"evt_1","type":"note","data":{"text":"hi"},"to":["someone"]}]}""",
        """{"type":1,"invocationId":"2","target":"JoinSession","arguments":[{"title":"fuzz"}]}""",
        """{"type":1,"invocationId":"3","target":"JoinSession","arguments":[{"sessionId":"0123456789abcdef0123456789abcdef","afterSeq":0}]}""",
        """{"type":1,"invocationId":"4","target":"Leave","arguments":[]}""",
        """{"type":1,"invocationId":"5","target":"NoSuchMethod","arguments":[1,2]}""",
        """{"type":6}""",
        """{"type":1,"invocationId":"6","target":"Send","arguments":[{"type":"a","data":{"n":1}},{"extra":true}]}""",
    ];

    /// <summary>A fuzzed hub message, nine times in ten ended with the record separator (without it, the server waits for the rest).</summary>
    public override FuzzFrame NextFrame(Random random)
    {
        var frame = FrameFuzzer.Next(random, ValidFrames);
        return frame.Type != WebSocketMessageType.Text || random.Next(10) == 0 ? frame : new FuzzFrame(frame.Type, [.. frame.Data, 0x1E]);
    }

    public override async Task OpenAsync(ClientWebSocket socket, FuzzConnection connection, Random random, CancellationToken cancellationToken)
    {
        var opening = """{"protocol":"json","version":1}""" + RecordSeparator
            + """{"type":1,"invocationId":"0","target":"JoinSession","arguments":[null]}""" + RecordSeparator;
        await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(opening), WebSocketMessageType.Text, true, cancellationToken);
    }

    public override string? CheckReply(FuzzFrame reply, FuzzConnection connection)
    {
        if (reply.Type != WebSocketMessageType.Text)
        {
            return "a binary frame";
        }
        var text = reply.AsText();
        if (!text.EndsWith(RecordSeparator))
        {
            return "a message that is not a whole record: " + AgentSocketTarget.Shorten(text);
        }
        foreach (var record in text.Split(RecordSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            using var document = FrameFuzzer.ParseJson(System.Text.Encoding.UTF8.GetBytes(record));
            if (document?.RootElement is not { ValueKind: JsonValueKind.Object } message)
            {
                return "a record that is not a JSON object: " + AgentSocketTarget.Shorten(record);
            }
            if (!message.TryGetProperty("type", out var type))
            {
                // The handshake answer: {} or {"error": "..."}.
                if (message.EnumerateObject().Any(p => p.Name != "error"))
                {
                    return "a handshake answer with unknown members: " + AgentSocketTarget.Shorten(record);
                }
                continue;
            }
            if (type.ValueKind != JsonValueKind.Number || !type.TryGetInt32(out var kind) || !MessageTypes.Contains(kind))
            {
                return "a hub message of an unknown type: " + AgentSocketTarget.Shorten(record);
            }
            if (kind == 1 && Text(message, "target") is not ("message" or "error"))
            {
                return "an invocation of an unknown client method: " + AgentSocketTarget.Shorten(record);
            }
        }
        return null;
    }
}
