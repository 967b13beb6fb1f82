using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Options;
using Portal.Agents.Approvals;
using Portal.Agents.Configuration;
using Portal.Agents.Providers;
using Portal.Agents.Tools;
using Portal.Sessions;

namespace Portal.Agents.Runtime;

public enum TurnStartStatus { Started, Busy, NotFound }

public sealed record TurnStart(TurnStartStatus Status, string? RunId = null, Task<TurnOutcome>? Completion = null);

public enum DecisionStatus { Accepted, NoPendingApproval, UnknownCallId, NotFound }

public enum CompactStatus { Compacted, Busy, Failed, NotFound }

/// <summary>
/// The agent runtime: runs belong to sessions, not to connections. Every entry point (the chat UI, <c>/ws/agent</c>,
/// <c>/ws/chat</c>) starts turns, answers approvals and cancels through here; everything a turn does is an event of its
/// session, so any client following the session sees it, and a restart rebuilds the state from the log.
/// One turn at a time per session.
/// </summary>
public sealed partial class AgentRuntime(
    ISessionBus bus,
    ISessionStore store,
    AgentCatalog catalog,
    IOptions<AgentsOptions> options,
    IOptions<SessionsOptions> sessionsOptions,
    TimeProvider time,
    ILogger<AgentRuntime> logger) : IHostedLifecycleService, IDisposable
{
    private static readonly string[] TurnMarkers = [EventTypes.RunStarted, AgentEventTypes.AgentFinished, EventTypes.ApprovalRequest, EventTypes.ApprovalDecision];
    private readonly ConcurrentDictionary<string, Lazy<Task<AgentConversation>>> _conversations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PendingApproval> _dormant = new(StringComparer.Ordinal);
    private readonly AgentsOptions _options = options.Value;
    private readonly ApprovalPolicy _policy = ApprovalPolicies.TryParse(options.Value.ApprovalPolicy, out var policy) ? policy : ApprovalPolicy.Suggest;
    private CancellationTokenSource? _sweeper;

    internal ISessionBus Bus => bus;
    internal TimeProvider Time => time;
    internal bool Stopping { get; private set; }

    public AgentCatalog Catalog => catalog;
    public ApprovalPolicy Policy => _policy;

    /// <summary>Turns running now, in all sessions.</summary>
    public int RunningTurns => _conversations.Values.Count(c => c.IsValueCreated && c.Value.IsCompletedSuccessfully && c.Value.Result.Current is not null);

    /// <summary>Tool calls waiting for a person now, in all sessions, including approvals kept from before a restart.</summary>
    public int PendingApprovals => _dormant.Count + _conversations.Values.Count(c => c.IsValueCreated && c.Value.IsCompletedSuccessfully && HasPending(c.Value.Result));

    private static bool HasPending(AgentConversation conversation)
    {
        lock (conversation.Gate)
        {
            return conversation.Pending is not null;
        }
    }

    /// <summary>Creates a session talking to the named agent (the default when null or unknown).</summary>
    public async Task<SessionInfo> CreateSessionAsync(string kind, string? ownerId, string? agent, CancellationToken cancellationToken)
    {
        var profile = catalog.Resolve(agent);
        var session = await bus.CreateSessionAsync(new NewSession(kind, ownerId, Agent: profile.Name, Status: SessionStatuses.Idle), cancellationToken);
        await bus.AppendAsync(session.Id, AgentJson.Event(EventDirections.Internal, EventTypes.SessionStarted, EventActors.System,
            new { kind, agent = profile.Name, provider = profile.Provider, model = profile.Model, approvalPolicy = _policy.WireName() }), cancellationToken);
        return session;
    }

    /// <summary>An approval began or ended waiting in a session of this owner (null: anonymous).</summary>
    public event Action<string?>? ApprovalsChanged;

    /// <summary>Announced off the caller's thread: changes happen under a conversation's lock, and listeners read others.</summary>
    private void AnnounceApprovals(string? ownerId) =>
        ThreadPool.QueueUserWorkItem(static state => state.Runtime.ApprovalsChanged?.Invoke(state.OwnerId), (Runtime: this, OwnerId: ownerId), preferLocal: false);

    /// <summary>The tool calls waiting for an answer in <paramref name="ownerId"/>'s sessions, oldest session first.</summary>
    public IReadOnlyList<WaitingApproval> WaitingApprovals(string ownerId)
    {
        var waiting = new List<WaitingApproval>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var lazy in _conversations.Values)
        {
            if (!lazy.IsValueCreated || !lazy.Value.IsCompletedSuccessfully || lazy.Value.Result is not { } conversation)
            {
                continue;
            }
            seen.Add(conversation.SessionId);
            if (conversation.OwnerId == ownerId && conversation.Waiting is { } pending)
            {
                waiting.Add(new WaitingApproval(conversation.SessionId, conversation.Kind, pending.CallId));
            }
        }
        foreach (var (sessionId, pending) in _dormant)
        {
            if (!seen.Contains(sessionId) && pending.OwnerId == ownerId)
            {
                waiting.Add(new WaitingApproval(sessionId, pending.Kind ?? SessionKinds.Chat, pending.CallId));
            }
        }
        return waiting;
    }

    /// <summary>True while a turn runs, an approval from before a restart waits, or the context is being compacted.</summary>
    public bool IsBusy(string sessionId) =>
        (_conversations.TryGetValue(sessionId, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully && Busy(lazy.Value.Result))
        || _dormant.ContainsKey(sessionId);

    /// <summary>
    /// Starts a turn answering the input event <paramref name="inputSeq"/>. While another turn runs the answer is
    /// <see cref="TurnStartStatus.Busy"/>, unless <paramref name="cancelCurrent"/> asks to stop that turn first.
    /// </summary>
    public async Task<TurnStart> StartTurnAsync(string sessionId, long inputSeq, string text, bool cancelCurrent, bool toolsEnabled, string by)
    {
        var conversation = await FindAsync(sessionId);
        if (conversation is null)
        {
            return new TurnStart(TurnStartStatus.NotFound);
        }
        while (true)
        {
            AgentTurn? running;
            PendingApproval? dormant;
            lock (conversation.Gate)
            {
                if (!conversation.IsBusy)
                {
                    var turn = new AgentTurn(this, conversation, _options, _policy, inputSeq, text, toolsEnabled);
                    conversation.Current = turn;
                    conversation.LastUsed = Environment.TickCount64;
                    turn.Start();
                    return new TurnStart(TurnStartStatus.Started, turn.RunId, turn.Completion);
                }
                running = conversation.Current;
                dormant = conversation.Dormant;
            }
            if (running is { Finishing: true })
            {
                await running.Completion;
                continue;
            }
            if (!cancelCurrent)
            {
                return new TurnStart(TurnStartStatus.Busy);
            }
            if (running is not null)
            {
                await running.StopAsync(StopReason.User);
                await running.Completion;
            }
            else if (dormant is not null)
            {
                await AnswerAsync(conversation, dormant.CallId, new ApprovalAnswer(ReviewDecision.NoExit, null, by) { Cancels = true });
            }
            else
            {
                await Task.Delay(20, CancellationToken.None); // compaction finishing
            }
        }
    }

    /// <summary>Answers the pending approval of a session (the one with <paramref name="callId"/> when given).</summary>
    public async Task<DecisionStatus> DecideAsync(string sessionId, string? callId, ReviewDecision decision, string? message, string by)
    {
        var conversation = await FindAsync(sessionId);
        return conversation is null ? DecisionStatus.NotFound : await AnswerAsync(conversation, callId, new ApprovalAnswer(decision, message, by));
    }

    private async Task<DecisionStatus> AnswerAsync(AgentConversation conversation, string? callId, ApprovalAnswer answer)
    {
        PendingApproval pending;
        AgentTurn? continuation = null;
        lock (conversation.Gate)
        {
            var candidate = conversation.Pending ?? conversation.Dormant;
            if (candidate is null)
            {
                return DecisionStatus.NoPendingApproval;
            }
            if (!string.IsNullOrEmpty(callId) && callId != candidate.CallId)
            {
                return DecisionStatus.UnknownCallId;
            }
            pending = candidate;
            if (pending == conversation.Dormant)
            {
                conversation.Dormant = null;
                _dormant.TryRemove(conversation.SessionId, out _);
                continuation = new AgentTurn(this, conversation, _options, _policy, pending.RunId, answer);
                conversation.Current = continuation;
            }
            else
            {
                conversation.Pending = null; // after an explanation the turn asks again with a new request
            }
        }
        var remembered = answer.Decision == ReviewDecision.Always && conversation.Approvals.Remember(pending.Command, pending.Files);
        await bus.AppendAsync(conversation.SessionId, AgentJson.Event(EventDirections.Internal, EventTypes.ApprovalDecision, ActorOf(answer.By),
            new ApprovalDecisionPayload(pending.CallId, answer.Cancels ? "cancelled" : answer.Decision.WireName(), answer.By, answer.Message, remembered,
                remembered ? pending.Command : null, remembered && pending.Command is null ? pending.Files : null,
                answer.Decision == ReviewDecision.Always && !remembered
                    ? pending.Command is { Count: > 0 }
                        ? "Not remembered: the command runs several commands through a shell, so it will be asked again."
                        : "Not remembered: the patch names no file it edits, so it will be asked again."
                    : null)), CancellationToken.None);
        if (continuation is not null)
        {
            continuation.Start();
            if (answer.Cancels)
            {
                await continuation.Completion;
            }
        }
        else
        {
            pending.Answer.TrySetResult(answer);
        }
        return DecisionStatus.Accepted;
    }

    /// <summary>Stops the running turn (or closes a turn left waiting by a restart). False when nothing was running.</summary>
    public async Task<bool> CancelAsync(string sessionId, string by)
    {
        var conversation = await FindAsync(sessionId);
        if (conversation is null)
        {
            return false;
        }
        AgentTurn? running;
        PendingApproval? dormant;
        lock (conversation.Gate)
        {
            running = conversation.Current;
            dormant = conversation.Dormant;
        }
        if (running is not null)
        {
            await running.StopAsync(StopReason.User);
            await running.Completion;
            return true;
        }
        if (dormant is not null)
        {
            return await AnswerAsync(conversation, dormant.CallId, new ApprovalAnswer(ReviewDecision.NoExit, null, by) { Cancels = true }) == DecisionStatus.Accepted;
        }
        return false;
    }

    /// <summary>The context's size against the model's window; recorded as a <c>context_info</c> event.</summary>
    public async Task<ContextInfoPayload?> ContextInfoAsync(string sessionId)
    {
        var conversation = await FindAsync(sessionId);
        if (conversation is null)
        {
            return null;
        }
        ContextInfoPayload info;
        lock (conversation.Gate)
        {
            info = ContextInfo(conversation);
        }
        await bus.AppendAsync(sessionId, AgentJson.Event(conversation.LoopDirection, AgentEventTypes.ContextInfo, EventActors.System, info), CancellationToken.None);
        return info;
    }

    private ContextInfoPayload ContextInfo(AgentConversation conversation)
    {
        var tokens = conversation.Transcript.EstimateTokens(conversation.Profile.Instructions);
        var max = conversation.Profile.MaxContextTokens;
        return new ContextInfoPayload(tokens, Math.Round(100.0 * tokens / max, 1), conversation.Transcript.Count, max,
            _options.ContextStrategy, _options.CompactionThreshold, _options.MaxHistory);
    }

    /// <summary>Compacts the context now (<c>manual_compact</c>): older turns become a summary (threshold) or are dropped (dummy).</summary>
    public async Task<CompactStatus> CompactAsync(string sessionId)
    {
        var conversation = await FindAsync(sessionId);
        if (conversation is null)
        {
            return CompactStatus.NotFound;
        }
        while (true)
        {
            AgentTurn? running;
            lock (conversation.Gate)
            {
                if (!conversation.IsBusy)
                {
                    conversation.Compacting = true;
                    break;
                }
                running = conversation.Current;
            }
            // A turn that has sent its agent_finished is over for the client, which may ask at once: wait for its last step.
            if (running is not { Finishing: true })
            {
                return CompactStatus.Busy;
            }
            await running.Completion;
        }
        try
        {
            return await CompactCoreAsync(conversation, automatic: false, CancellationToken.None) ? CompactStatus.Compacted : CompactStatus.Failed;
        }
        finally
        {
            lock (conversation.Gate)
            {
                conversation.Compacting = false;
            }
        }
    }

    /// <summary>Before a model call: compacts when the threshold strategy finds the context past its threshold.</summary>
    internal async Task CompactIfNeededAsync(AgentConversation conversation, AgentTurn turn, CancellationToken cancellationToken)
    {
        if (_options.ContextStrategy != "threshold")
        {
            return;
        }
        var tokens = conversation.Transcript.EstimateTokens(conversation.Profile.Instructions);
        if (tokens > _options.CompactionThreshold * conversation.Profile.MaxContextTokens && conversation.Transcript.CompactableCount(_options.KeepTurns) > 0)
        {
            await CompactCoreAsync(conversation, automatic: true, cancellationToken);
        }
    }

    private async Task<bool> CompactCoreAsync(AgentConversation conversation, bool automatic, CancellationToken cancellationToken)
    {
        var transcript = conversation.Transcript;
        var before = transcript.EstimateTokens(conversation.Profile.Instructions);
        var count = transcript.CompactableCount(_options.KeepTurns);
        string? summary = null;
        if (count > 0 && _options.ContextStrategy == "threshold")
        {
            var template = new ModelRequest(conversation.Profile.Model, null, [], [], conversation.Profile.Temperature, null);
            var request = AgentPrompts.Summarise(template, transcript.Summary, transcript.Messages.Take(count));
            try
            {
                var text = new StringBuilder();
                await foreach (var e in StreamAsync(conversation.Profile.Client, request, cancellationToken))
                {
                    if (e is TextDelta delta)
                    {
                        text.Append(delta.Text);
                    }
                }
                summary = text.ToString().Trim();
            }
            catch (ModelProviderException ex)
            {
                await bus.AppendAsync(conversation.SessionId, AgentJson.Event(conversation.LoopDirection, EventTypes.Error, EventActors.System,
                    new ErrorPayload("The context could not be summarised: " + ex.Message, "compaction_failed")), CancellationToken.None);
                return false;
            }
        }
        transcript.Compact(count, summary);
        var after = transcript.EstimateTokens(conversation.Profile.Instructions);
        await bus.AppendAsync(conversation.SessionId, AgentJson.Event(conversation.LoopDirection, AgentEventTypes.ContextCompacted, EventActors.System,
            new ContextCompactedPayload(before, after, before == 0 ? 0 : Math.Round(100.0 * (before - after) / before, 1), _options.ContextStrategy,
                summary, count, automatic)), CancellationToken.None);
        return true;
    }

    /// <summary>Stops what runs in a session that is being deleted or has ended, and forgets its state.</summary>
    public async Task ForgetAsync(string sessionId)
    {
        if (_dormant.TryRemove(sessionId, out var dormant))
        {
            AnnounceApprovals(dormant.OwnerId);
        }
        if (_conversations.TryRemove(sessionId, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
        {
            AgentTurn? running;
            lock (lazy.Value.Result.Gate)
            {
                running = lazy.Value.Result.Current;
            }
            if (running is not null)
            {
                await running.StopAsync(StopReason.Ended);
                await running.Completion;
            }
        }
    }

    /// <summary>
    /// The model's stream, bounded twice: <c>ProviderTimeout</c> between chunks fails a provider that goes silent, and
    /// <c>MaxResponseDuration</c> from the request to the end of the stream fails one that trickles chunks forever.
    /// Either is retryable only while nothing has streamed.
    /// </summary>
    internal async IAsyncEnumerable<ModelStreamEvent> StreamAsync(IModelProvider client, ModelRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (timeout, longest) = (_options.ProviderTimeout, _options.MaxResponseDuration);
        using var whole = new CancellationTokenSource(longest, time);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, whole.Token);
        await using var stream = client.StreamAsync(request, idle.Token).GetAsyncEnumerator(idle.Token);
        var yielded = false;
        while (true)
        {
            bool more;
            idle.CancelAfter(timeout);
            try
            {
                more = await stream.MoveNextAsync();
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw whole.IsCancellationRequested
                    ? new ModelProviderException($"The provider's reply took longer than {Describe(longest)}; stopped.", "timeout", retryable: !yielded)
                    : new ModelProviderException($"The provider sent nothing for {timeout.TotalSeconds:0} s.", "timeout", retryable: !yielded);
            }
            idle.CancelAfter(Timeout.InfiniteTimeSpan);
            if (!more)
            {
                yield break;
            }
            yielded = true;
            yield return stream.Current;
        }
    }

    /// <summary>A duration as a person reads it in a message: <c>10 min</c>, <c>1.5 min</c>, <c>45 s</c>.</summary>
    internal static string Describe(TimeSpan duration) =>
        duration.TotalMinutes >= 1 ? $"{duration.TotalMinutes:0.#} min" : $"{duration.TotalSeconds:0.#} s";

    internal static PendingApproval BeginApproval(AgentConversation conversation, string runId, ToolInvocation invocation, IReadOnlyList<string> files)
    {
        var pending = new PendingApproval(runId, invocation.Call.CallId)
        {
            Command = invocation.Kind == ToolKind.Shell ? invocation.Argv : null,
            Files = invocation.Kind == ToolKind.Patch ? files : null,
        };
        lock (conversation.Gate)
        {
            conversation.Pending = pending;
        }
        return pending;
    }

    /// <summary>The approval timed out: denies it and ends the turn, unless someone answered in the meantime (then null).</summary>
    internal async Task<ApprovalAnswer?> ExpireApprovalAsync(AgentConversation conversation, PendingApproval pending, string note)
    {
        lock (conversation.Gate)
        {
            if (conversation.Pending != pending)
            {
                return null;
            }
            conversation.Pending = null;
        }
        var answer = new ApprovalAnswer(ReviewDecision.NoExit, note, "timeout");
        await bus.AppendAsync(conversation.SessionId, AgentJson.Event(EventDirections.Internal, EventTypes.ApprovalDecision, EventActors.System,
            new ApprovalDecisionPayload(pending.CallId, ReviewDecision.NoExit.WireName(), "timeout", note, Note: note)), CancellationToken.None);
        return answer;
    }

    /// <summary>The turn stopped while waiting: the request is withdrawn, recorded as <paramref name="decision"/> unless null.</summary>
    internal async Task WithdrawApprovalAsync(AgentConversation conversation, PendingApproval pending, string? decision)
    {
        lock (conversation.Gate)
        {
            if (conversation.Pending != pending)
            {
                return;
            }
            conversation.Pending = null;
        }
        if (decision is not null)
        {
            await bus.AppendAsync(conversation.SessionId, AgentJson.Event(EventDirections.Internal, EventTypes.ApprovalDecision, EventActors.System,
                new ApprovalDecisionPayload(pending.CallId, decision, "system")), CancellationToken.None);
        }
    }

    internal static bool WaitingForApproval(AgentConversation conversation, string runId)
    {
        lock (conversation.Gate)
        {
            return conversation.Pending?.RunId == runId;
        }
    }

    internal static void TurnEnded(AgentConversation conversation, AgentTurn turn)
    {
        lock (conversation.Gate)
        {
            if (conversation.Current == turn)
            {
                conversation.Current = null;
            }
            if (conversation.Pending?.RunId == turn.RunId && turn.Reason != StopReason.Shutdown)
            {
                conversation.Pending = null;
            }
            conversation.LastUsed = Environment.TickCount64;
        }
    }

    private static bool Busy(AgentConversation conversation)
    {
        lock (conversation.Gate)
        {
            return conversation.IsWorking;
        }
    }

    private static string ActorOf(string by) => by switch
    {
        "timeout" or "system" => EventActors.System,
        _ => EventActors.User,
    };

    /// <summary>The session's conversation state, loaded from its events the first time; null when the session does not exist.</summary>
    private async Task<AgentConversation?> FindAsync(string sessionId)
    {
        var lazy = _conversations.GetOrAdd(sessionId, id => new Lazy<Task<AgentConversation>>(() => LoadAsync(id)));
        try
        {
            return await lazy.Value;
        }
        catch (SessionNotFoundException)
        {
            _conversations.TryRemove(new KeyValuePair<string, Lazy<Task<AgentConversation>>>(sessionId, lazy));
            return null;
        }
        catch
        {
            _conversations.TryRemove(new KeyValuePair<string, Lazy<Task<AgentConversation>>>(sessionId, lazy));
            throw;
        }
    }

    private async Task<AgentConversation> LoadAsync(string sessionId)
    {
        var session = await store.GetAsync(sessionId, CancellationToken.None) ?? throw new SessionNotFoundException(sessionId);
        var events = new List<SessionEvent>();
        long after = 0;
        while (true)
        {
            var page = await bus.ReadAsync(sessionId, after, 5_000, CancellationToken.None);
            events.AddRange(page.Where(e => e.Type is not EventTypes.ResponseDelta));
            if (page.Count < 5_000)
            {
                break;
            }
            after = page[^1].Seq;
        }
        var approvals = new SessionApprovals();
        foreach (var e in events.Where(e => e.Type == EventTypes.ApprovalDecision))
        {
            if (AgentJson.Read<ApprovalDecisionPayload>(e.Payload) is { Remembered: true } decision)
            {
                approvals.Remember(decision.RememberedCommand, decision.RememberedFiles);
            }
        }
        var conversation = new AgentConversation(session, catalog.Resolve(session.Agent), Transcript.Fold(events), approvals, WorkingDirectoryFor(session.OwnerId),
            c => AnnounceApprovals(c.OwnerId));
        if (_dormant.TryGetValue(sessionId, out var dormant))
        {
            conversation.Dormant = dormant;
        }
        return conversation;
    }

    /// <summary>The configured working directory, or the owner's own folder under data/workspaces/ beside the database.</summary>
    internal WorkingDirectory WorkingDirectoryFor(string? ownerId)
    {
        if (!string.IsNullOrWhiteSpace(_options.WorkingDirectory))
        {
            return new WorkingDirectory(Path.GetFullPath(_options.WorkingDirectory));
        }
        var data = Path.GetDirectoryName(Path.GetFullPath(sessionsOptions.Value.DatabasePath)) ?? Environment.CurrentDirectory;
        var owner = ownerId is { Length: > 0 } id && SessionJson.IsValidId(id) ? id : "shared";
        return new WorkingDirectory(Path.Combine(data, "workspaces", owner));
    }

    /// <summary>
    /// Before anything is served: turns cut off by a crash are closed as interrupted, visibly (an <c>agent_finished</c>
    /// with status <c>interrupted</c>, and the session's status stays <c>interrupted</c> until its next activity); an
    /// approval that was waiting stays pending, and answering it continues its turn.
    /// </summary>
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        // All of them first: recovering one changes its activity time, and so the order of the listing.
        var interrupted = new List<SessionInfo>();
        foreach (var kind in new[] { SessionKinds.Chat, SessionKinds.Agent, SessionKinds.ChatWebSocket })
        {
            for (var page = 1; ; page++)
            {
                var sessions = await store.ListAsync(new SessionQuery { Kind = kind, Status = SessionStatuses.Interrupted, Page = page, PageSize = 500 }, cancellationToken);
                interrupted.AddRange(sessions.Items);
                if (sessions.Items.Count < sessions.PageSize)
                {
                    break;
                }
            }
        }
        foreach (var session in interrupted)
        {
            await RecoverAsync(session, cancellationToken);
        }
    }

    /// <summary>
    /// Closes the session's cut-off turn, if it has one. Sessions stay <c>interrupted</c> until their next activity, so
    /// this runs again for them at the next start, and does nothing then: their last turn has its <c>agent_finished</c>.
    /// </summary>
    private async Task RecoverAsync(SessionInfo session, CancellationToken cancellationToken)
    {
        var last = await store.FindLastEventAsync(session.Id, TurnMarkers, cancellationToken);
        var canContinue = session.Kind != SessionKinds.ChatWebSocket;
        if (last?.Type == EventTypes.ApprovalRequest && canContinue && AgentJson.Read<ApprovalRequestPayload>(last.Payload) is { } request)
        {
            _dormant[session.Id] = new PendingApproval(request.RunId, request.CallId)
            {
                OwnerId = session.OwnerId,
                Kind = session.Kind,
                Command = request.Command,
                Files = request.ApplyPatch?.Files,
            };
            await bus.SetStatusAsync(session.Id, SessionStatuses.Active, cancellationToken);
            Log.ApprovalKept(logger, session.Id, request.CallId);
            return;
        }
        if (last is not null && last.Type != AgentEventTypes.AgentFinished)
        {
            var started = await store.FindLastEventAsync(session.Id, [EventTypes.RunStarted], cancellationToken);
            var runId = started is null ? "unknown" : AgentJson.Read<RunStartedPayload>(started.Payload)?.RunId ?? "unknown";
            var direction = session.Kind == SessionKinds.ChatWebSocket ? EventDirections.Internal : EventDirections.Out;
            await bus.AppendAsync(session.Id, AgentJson.Event(direction, AgentEventTypes.LoadingState, EventActors.System, new LoadingStatePayload(false)), cancellationToken);
            await bus.AppendAsync(session.Id, AgentJson.Event(direction, AgentEventTypes.AgentFinished, EventActors.System,
                new AgentFinishedPayload(runId, runId, TurnStatuses.Interrupted, Error: "Portal stopped while this turn was running.")), cancellationToken);
            Log.TurnInterrupted(logger, session.Id);
            return;
        }
        // No turn was cut off (a client was merely connected): the session can simply go on.
        if (canContinue && !(last is not null && AgentJson.Read<AgentFinishedPayload>(last.Payload)?.Status == TurnStatuses.Interrupted))
        {
            await bus.SetStatusAsync(session.Id, SessionStatuses.Idle, cancellationToken);
        }
    }

    /// <summary>On shutdown: running turns stop and record how they ended; approvals waiting stay pending for the next start.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Stopping = true;
        if (_sweeper is not null)
        {
            await _sweeper.CancelAsync();
        }
        var turns = new List<AgentTurn>();
        foreach (var lazy in _conversations.Values.Where(l => l.IsValueCreated && l.Value.IsCompletedSuccessfully))
        {
            lock (lazy.Value.Result.Gate)
            {
                if (lazy.Value.Result.Current is { } turn)
                {
                    turns.Add(turn);
                }
            }
        }
        foreach (var turn in turns)
        {
            await turn.StopAsync(StopReason.Shutdown);
        }
        await Task.WhenAll(turns.Select(t => t.Completion)).WaitAsync(cancellationToken);
    }

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        _sweeper = new CancellationTokenSource();
        _ = SweepAsync(_sweeper.Token);
        return Task.CompletedTask;
    }

    /// <summary>Releases the state of conversations nobody has used for a while; it is rebuilt from the log when needed.</summary>
    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                var cutoff = Environment.TickCount64 - (long)TimeSpan.FromMinutes(10).TotalMilliseconds;
                foreach (var (id, lazy) in _conversations)
                {
                    if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully && lazy.Value.Result is var conversation)
                    {
                        lock (conversation.Gate)
                        {
                            if (conversation.IsBusy || conversation.Pending is not null || conversation.LastUsed > cutoff)
                            {
                                continue;
                            }
                        }
                        _conversations.TryRemove(new KeyValuePair<string, Lazy<Task<AgentConversation>>>(id, lazy));
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose() => _sweeper?.Dispose();

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    internal void LogTurnFailed(Exception exception, string sessionId) => Log.TurnFailed(logger, exception, sessionId);

    internal void LogNotRecorded(Exception exception, string sessionId) => Log.NotRecorded(logger, exception, sessionId);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "The agent turn in session {SessionId} failed")]
        public static partial void TurnFailed(ILogger logger, Exception exception, string sessionId);

        [LoggerMessage(2, LogLevel.Warning, "The end of the agent turn in session {SessionId} could not be recorded")]
        public static partial void NotRecorded(ILogger logger, Exception exception, string sessionId);

        [LoggerMessage(3, LogLevel.Warning, "The agent turn in session {SessionId} was cut off when Portal last stopped; marked interrupted")]
        public static partial void TurnInterrupted(ILogger logger, string sessionId);

        [LoggerMessage(4, LogLevel.Information, "Session {SessionId} still waits for approval of call {CallId} from before the restart")]
        public static partial void ApprovalKept(ILogger logger, string sessionId, string callId);
    }
}
