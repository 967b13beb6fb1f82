using Portal.Agents.Approvals;
using Portal.Agents.Configuration;
using Portal.Agents.Tools;
using Portal.Sessions;

namespace Portal.Agents.Runtime;

/// <summary>A person's answer to an approval request.</summary>
public sealed record ApprovalAnswer(ReviewDecision Decision, string? Message, string By)
{
    /// <summary>Not an answer but a cancel: the turn stops (a new input asked to cancel it, or a cancel came).</summary>
    public bool Cancels { get; init; }
}

/// <summary>A tool call waiting for a person. Exactly one party (an answer, the timeout, a cancel) claims it.</summary>
internal sealed class PendingApproval(string runId, string callId)
{
    public string RunId { get; } = runId;
    public string CallId { get; } = callId;
    public TaskCompletionSource<ApprovalAnswer> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>The argv of a shell call, for remembering "always".</summary>
    public IReadOnlyList<string>? Command { get; init; }
    /// <summary>The files of a patch, for remembering "always".</summary>
    public IReadOnlyList<string>? Files { get; init; }
    /// <summary>Owner and kind of the session, kept for approvals waiting from before a restart (no conversation loaded yet).</summary>
    public string? OwnerId { get; init; }
    public string? Kind { get; init; }
}

/// <summary>A tool call waiting for a person's answer, as lists and badges show it.</summary>
public sealed record WaitingApproval(string SessionId, string Kind, string CallId);

/// <summary>
/// The in-memory state of one agent session: its transcript, its "always" answers, the running turn and the approval
/// it waits for. Rebuilt from the session's events when first needed, so a restart loses none of it.
/// </summary>
internal sealed class AgentConversation(SessionInfo session, AgentProfile profile, Transcript transcript, SessionApprovals approvals, WorkingDirectory directory,
    Action<AgentConversation>? approvalsChanged = null)
{
    private PendingApproval? _pending;
    private PendingApproval? _dormant;

    public Lock Gate { get; } = new();

    public string SessionId { get; } = session.Id;
    public string Kind { get; } = session.Kind;
    public string? OwnerId { get; } = session.OwnerId;
    public AgentProfile Profile { get; } = profile;
    public Transcript Transcript { get; } = transcript;
    public SessionApprovals Approvals { get; } = approvals;
    public WorkingDirectory Directory { get; } = directory;

    /// <summary>Loop events of chat-ws sessions are not frames (that protocol sends only the final answer), so they are internal.</summary>
    public string LoopDirection => Kind == SessionKinds.ChatWebSocket ? EventDirections.Internal : EventDirections.Out;

    /// <summary>The turn in progress; guarded by <see cref="Gate"/>.</summary>
    public AgentTurn? Current { get; set; }

    /// <summary>The approval the current turn waits for; guarded by <see cref="Gate"/>. Changes are announced (top bar badges).</summary>
    public PendingApproval? Pending
    {
        get => _pending;
        set
        {
            var changed = _pending != value;
            _pending = value;
            if (changed)
            {
                approvalsChanged?.Invoke(this);
            }
        }
    }

    /// <summary>
    /// An approval left pending when Portal last stopped: no turn runs, but answering it continues that turn.
    /// Guarded by <see cref="Gate"/>.
    /// </summary>
    public PendingApproval? Dormant
    {
        get => _dormant;
        set
        {
            var changed = _dormant != value;
            _dormant = value;
            if (changed)
            {
                approvalsChanged?.Invoke(this);
            }
        }
    }

    /// <summary>The approval waiting in this session, whether its turn runs or waits from before a restart.</summary>
    public PendingApproval? Waiting
    {
        get
        {
            lock (Gate)
            {
                return _pending ?? _dormant;
            }
        }
    }

    /// <summary>Serialises transcript changes made outside turns (compaction) with turns starting.</summary>
    public bool Compacting { get; set; }

    public long LastUsed { get; set; } = Environment.TickCount64;

    public bool IsBusy => Current is not null || Dormant is not null || Compacting;

    /// <summary>Busy as a person sees it: a turn that only has its closing events left to write does not count.</summary>
    public bool IsWorking => Current is { Finishing: false } || Dormant is not null || Compacting;
}
