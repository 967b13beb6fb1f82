using System.Text.Json;
using Portal.Agents.Runtime;
using Portal.Sessions;

namespace Portal.Admin;

/// <summary>A tool call waiting for a person, and how and when it was answered.</summary>
public sealed record ApprovalRecord(
    string CallId,
    string Tool,
    string Summary,
    long RequestSeq,
    DateTimeOffset RequestedAt,
    string? Decision = null,
    string? By = null,
    long? DecisionSeq = null,
    DateTimeOffset? DecidedAt = null)
{
    /// <summary>From the (last) request to its answer; null while it waits.</summary>
    public TimeSpan? Latency => DecidedAt - RequestedAt;
}

/// <summary>A tool call the agent made, and what it printed.</summary>
public sealed record ToolCallRecord(string CallId, string Name, string Arguments, long Seq, DateTimeOffset CalledAt,
    string? Output = null, long? OutputSeq = null, bool OutputCut = false);

/// <summary>The tokens one agent turn used, from its <c>agent_finished</c> event.</summary>
public sealed record TurnUsage(string RunId, string Status, int InputTokens, int OutputTokens, long Seq, DateTimeOffset FinishedAt)
{
    public int TotalTokens => InputTokens + OutputTokens;
}

/// <summary>Frames and bytes of one kind, each way.</summary>
public sealed record FrameCounts(long FramesIn, long BytesIn, long FramesOut, long BytesOut)
{
    public static readonly FrameCounts None = new(0, 0, 0, 0);

    public FrameCounts Plus(FrameCounts other) =>
        new(FramesIn + other.FramesIn, BytesIn + other.BytesIn, FramesOut + other.FramesOut, BytesOut + other.BytesOut);
}

/// <summary>How a proxied widget connection closed: the code and reason on each leg, who ended it, after how long.</summary>
public sealed record ProxyClose(int? ClientCode, string? ClientReason, int? UpstreamCode, string? UpstreamReason, string? Initiator, string? Detail, double? DurationMs);

/// <summary>
/// What the admin's detail page shows beside a session's timeline: events by type, approvals with their decision
/// latency, tool calls with their output, tokens per turn, and for widget sessions frame statistics and close codes.
/// Built from the store (<see cref="Tally"/> for counts, <see cref="Apply"/> for the events of <see cref="PayloadTypes"/>),
/// then kept current by applying live events one by one. Lists keep the newest <see cref="MaxItems"/> entries.
/// </summary>
public sealed class SessionDigest
{
    /// <summary>The types whose payloads the digest reads; for every other event it needs only type, direction and size.</summary>
    public static readonly IReadOnlyList<string> PayloadTypes =
    [
        EventTypes.ApprovalRequest, EventTypes.ApprovalDecision, EventTypes.ResponseItem, EventTypes.ToolOutput,
        AgentEventTypes.AgentFinished, EventTypes.SessionEnded, ProxyStatsType,
    ];

    public const int MaxItems = 500;
    public const int MaxOutputChars = 4_000;
    private const string ProxyStatsType = "proxy_stats";

    private readonly Dictionary<string, long> _typeCounts = new(StringComparer.Ordinal);
    private readonly List<ApprovalRecord> _approvals = [];
    private readonly List<ToolCallRecord> _toolCalls = [];
    private readonly List<TurnUsage> _turns = [];
    private FrameCounts _recordedText = FrameCounts.None;
    private (FrameCounts Text, FrameCounts Audio, FrameCounts Binary) _counted = (FrameCounts.None, FrameCounts.None, FrameCounts.None);

    public IReadOnlyDictionary<string, long> TypeCounts => _typeCounts;
    public IReadOnlyList<ApprovalRecord> Approvals => _approvals;
    public IReadOnlyList<ToolCallRecord> ToolCalls => _toolCalls;
    public IReadOnlyList<TurnUsage> Turns => _turns;
    public long InputTokens { get; private set; }
    public long OutputTokens { get; private set; }
    public long TotalTokens => InputTokens + OutputTokens;
    public long ApprovalCount { get; private set; }
    public long ToolCallCount { get; private set; }
    public long TurnCount { get; private set; }

    /// <summary>Text frames, recorded as events or only counted.</summary>
    public FrameCounts TextFrames => _recordedText.Plus(_counted.Text);
    public FrameCounts AudioFrames => _counted.Audio;
    public FrameCounts BinaryFrames => _counted.Binary;
    public bool HasFrames => TextFrames != FrameCounts.None || AudioFrames != FrameCounts.None || BinaryFrames != FrameCounts.None;
    public ProxyClose? Close { get; private set; }

    /// <summary>Counts the stored events (from <see cref="ISessionStore.TallyAsync"/>).</summary>
    public void Tally(EventTally tally)
    {
        _typeCounts[tally.Type] = _typeCounts.GetValueOrDefault(tally.Type) + tally.Count;
        if (tally.Type == EventTypes.ProxyFrame)
        {
            _recordedText = _recordedText.Plus(tally.Direction == EventDirections.In
                ? new FrameCounts(tally.Count, tally.Bytes, 0, 0)
                : new FrameCounts(0, 0, tally.Count, tally.Bytes));
        }
    }

    /// <summary>A live event: counted, and read when it is of <see cref="PayloadTypes"/>.</summary>
    public void Add(SessionEvent e)
    {
        Tally(new EventTally(e.Type, e.Direction, 1, e.Size));
        Apply(e);
    }

    /// <summary>Reads what the panels show from an event of <see cref="PayloadTypes"/>; does not count it.</summary>
    public void Apply(SessionEvent e)
    {
        if (!PayloadTypes.Contains(e.Type))
        {
            return;
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(e.Payload);
        }
        catch (JsonException)
        {
            return; // stored as a preview, or not JSON: nothing to read
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return;
            }
            switch (e.Type)
            {
                case EventTypes.ApprovalRequest:
                    Requested(e, root);
                    break;
                case EventTypes.ApprovalDecision:
                    Decided(e, root);
                    break;
                case EventTypes.ResponseItem or EventTypes.ToolOutput:
                    ToolItem(e, root);
                    break;
                case AgentEventTypes.AgentFinished:
                    Finished(e, root);
                    break;
                case ProxyStatsType:
                    _counted = Frames(root);
                    break;
                case EventTypes.SessionEnded when root.TryGetProperty("frames", out var frames):
                    _counted = Frames(frames);
                    Close = new ProxyClose(
                        Int(root, "client", "code"), String(root, "client", "reason"),
                        Int(root, "upstream", "code"), String(root, "upstream", "reason"),
                        String(root, "initiator"), String(root, "detail"),
                        root.TryGetProperty("durationMs", out var ms) && ms.TryGetDouble(out var duration) ? duration : null);
                    break;
            }
        }
    }

    private void Requested(SessionEvent e, JsonElement root)
    {
        var callId = String(root, "callId") ?? "";
        var summary = root.TryGetProperty("command", out var command) && command.ValueKind == JsonValueKind.Array
            ? string.Join(' ', command.EnumerateArray().Select(a => a.ValueKind == JsonValueKind.String ? a.GetString() : a.GetRawText()))
            : root.TryGetProperty("applyPatch", out var patch) && patch.TryGetProperty("files", out var files) && files.ValueKind == JsonValueKind.Array
                ? "patch " + string.Join(", ", files.EnumerateArray().Select(f => f.GetString()))
                : String(root, "reason") ?? "";
        // An explanation asks again with the same call id: the latency runs from the last asking.
        var open = _approvals.FindLastIndex(a => a.CallId == callId && a.Decision is null);
        var record = new ApprovalRecord(callId, String(root, "tool") ?? "tool", summary, e.Seq, e.Time);
        if (open >= 0)
        {
            _approvals[open] = record;
            return;
        }
        ApprovalCount++;
        AddCapped(_approvals, record);
    }

    private void Decided(SessionEvent e, JsonElement root)
    {
        var callId = String(root, "callId");
        var decision = String(root, "decision") ?? "?";
        var index = _approvals.FindLastIndex(a => a.CallId == callId && a.Decision is null);
        if (index < 0)
        {
            return;
        }
        if (decision == "explain")
        {
            return; // not an answer: the agent explains and asks again
        }
        _approvals[index] = _approvals[index] with { Decision = decision, By = String(root, "by"), DecisionSeq = e.Seq, DecidedAt = e.Time };
    }

    private void ToolItem(SessionEvent e, JsonElement root)
    {
        var type = String(root, "type");
        var callId = String(root, "call_id") ?? String(root, "callId");
        if (type == ResponseItemTypes.FunctionCall && callId is not null)
        {
            ToolCallCount++;
            AddCapped(_toolCalls, new ToolCallRecord(callId, String(root, "name") ?? "tool", String(root, "arguments") ?? "", e.Seq, e.Time));
        }
        else if ((type == ResponseItemTypes.FunctionCallOutput || e.Type == EventTypes.ToolOutput) && callId is not null)
        {
            var output = String(root, "output") ?? "";
            var cut = output.Length > MaxOutputChars;
            var index = _toolCalls.FindLastIndex(c => c.CallId == callId);
            if (index >= 0)
            {
                _toolCalls[index] = _toolCalls[index] with { Output = cut ? output[..MaxOutputChars] : output, OutputSeq = e.Seq, OutputCut = cut };
            }
        }
    }

    private void Finished(SessionEvent e, JsonElement root)
    {
        var input = Int(root, "usage", "inputTokens") ?? 0;
        var output = Int(root, "usage", "outputTokens") ?? 0;
        InputTokens += input;
        OutputTokens += output;
        TurnCount++;
        AddCapped(_turns, new TurnUsage(String(root, "runId") ?? "", String(root, "status") ?? "", input, output, e.Seq, e.Time));
    }

    private static (FrameCounts Text, FrameCounts Audio, FrameCounts Binary) Frames(JsonElement stats) =>
        (Counts(stats, "text"), Counts(stats, "audio"), Counts(stats, "binary"));

    private static FrameCounts Counts(JsonElement stats, string kind) => new(
        Long(stats, kind, "in", "frames"), Long(stats, kind, "in", "bytes"),
        Long(stats, kind, "out", "frames"), Long(stats, kind, "out", "bytes"));

    private static void AddCapped<T>(List<T> list, T item)
    {
        if (list.Count == MaxItems)
        {
            list.RemoveAt(0);
        }
        list.Add(item);
    }

    private static JsonElement? Find(JsonElement root, params string[] path)
    {
        var current = root;
        foreach (var name in path)
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(name, out current))
            {
                return null;
            }
        }
        return current;
    }

    private static string? String(JsonElement root, params string[] path) =>
        Find(root, path) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    private static int? Int(JsonElement root, params string[] path) =>
        Find(root, path) is { ValueKind: JsonValueKind.Number } value && value.TryGetInt32(out var n) ? n : null;

    private static long Long(JsonElement root, params string[] path) =>
        Find(root, path) is { ValueKind: JsonValueKind.Number } value && value.TryGetInt64(out var n) ? n : 0;
}
