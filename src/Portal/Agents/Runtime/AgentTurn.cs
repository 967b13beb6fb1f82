using System.Text;
using Portal.Agents.Approvals;
using Portal.Agents.Configuration;
using Portal.Agents.Providers;
using Portal.Agents.Tools;
using Portal.Sessions;

namespace Portal.Agents.Runtime;

/// <summary>How a turn ended, for callers that wait for it (the chat protocol answers with the final text).</summary>
public sealed record TurnOutcome(string RunId, string Status, string FinalText, string? Error, string? ErrorCode);

/// <summary>Why a turn is being stopped.</summary>
/// <summary>Why a turn was stopped: a person, Portal stopping, or its session ending (deleted, or its connection gone).</summary>
internal enum StopReason { None, User, Shutdown, Ended }

/// <summary>
/// One turn of the agent loop: the model answers, the tool calls it asks for are approved (or not) and run, their
/// results go back to the model, until it answers without calls. Every step is an event, written whatever the turn's
/// fate, so a client that reconnects, a second tab or an admin sees exactly what happened. Exactly one
/// <c>loading_state false</c> and one <c>agent_finished</c> end every turn.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "The stop source is never disposed, so a late stop cannot race a disposal.")]
internal sealed class AgentTurn
{
    private readonly AgentRuntime _runtime;
    private readonly AgentConversation _conversation;
    private readonly AgentsOptions _options;
    private readonly ApprovalPolicy _policy;
    private readonly CancellationTokenSource _stop = new();
    private readonly long _inputSeq;
    private readonly string? _input;
    private readonly bool _toolsEnabled;
    private readonly ApprovalAnswer? _resumeAnswer;
    private readonly StringBuilder _finalText = new();
    private int _inputTokens;
    private int _outputTokens;
    private string? _lastResponseId;
    private int _stopReason;

    /// <summary>A new turn answering the input event <paramref name="inputSeq"/>.</summary>
    public AgentTurn(AgentRuntime runtime, AgentConversation conversation, AgentsOptions options, ApprovalPolicy policy, long inputSeq, string input, bool toolsEnabled)
        : this(runtime, conversation, options, policy, Guid.NewGuid().ToString("N"), null)
    {
        _inputSeq = inputSeq;
        _input = input;
        _toolsEnabled = toolsEnabled;
    }

    /// <summary>The continuation of turn <paramref name="runId"/>, which Portal stopped while it waited for the approval now answered.</summary>
    public AgentTurn(AgentRuntime runtime, AgentConversation conversation, AgentsOptions options, ApprovalPolicy policy, string runId, ApprovalAnswer? resumeAnswer)
    {
        _runtime = runtime;
        _conversation = conversation;
        _options = options;
        _policy = policy;
        RunId = runId;
        _resumeAnswer = resumeAnswer;
        _toolsEnabled = true;
    }

    public string RunId { get; }

    public Task<TurnOutcome> Completion { get; private set; } = Task.FromResult(new TurnOutcome("", TurnStatuses.Completed, "", null, null));

    internal StopReason Reason => (StopReason)Volatile.Read(ref _stopReason);

    /// <summary>
    /// True once the turn only has its closing events left to write. A client may send its next input as soon as it
    /// sees <c>agent_finished</c>, so a new input waits for these last appends instead of being refused as busy.
    /// </summary>
    public bool Finishing { get; private set; }

    public void Start() => Completion = Task.Run(RunAsync, CancellationToken.None);

    /// <summary>Stops the turn; the first reason given wins.</summary>
    public async Task StopAsync(StopReason reason)
    {
        Interlocked.CompareExchange(ref _stopReason, (int)reason, (int)StopReason.None);
        await _stop.CancelAsync();
    }

    private Transcript Transcript => _conversation.Transcript;
    private AgentProfile Profile => _conversation.Profile;
    private string SessionId => _conversation.SessionId;
    private CancellationToken Token => _stop.Token;

    private async Task<TurnOutcome> RunAsync()
    {
        var status = TurnStatuses.Completed;
        string? error = null;
        string? errorCode = null;
        var finish = true;
        try
        {
            if (_resumeAnswer is null)
            {
                await AppendAsync(EventDirections.Internal, EventTypes.RunStarted,
                    new RunStartedPayload(RunId, _inputSeq, Profile.Name, Profile.Provider, Profile.Model, Profile.Offline, _toolsEnabled));
                await AppendLoopAsync(AgentEventTypes.LoadingState, new LoadingStatePayload(true));
                await _runtime.Bus.SetStatusAsync(SessionId, SessionStatuses.Active, CancellationToken.None);
                Transcript.AddUser(_input!);
            }
            status = await LoopAsync();
        }
        catch (OperationCanceledException) when (Token.IsCancellationRequested)
        {
            if (Reason == StopReason.Shutdown && AgentRuntime.WaitingForApproval(_conversation, RunId))
            {
                // The approval stays pending in the log; after the restart, answering it continues this turn.
                finish = false;
                return Outcome(TurnStatuses.Interrupted, null, null);
            }
            status = Reason == StopReason.Shutdown ? TurnStatuses.Interrupted : TurnStatuses.Cancelled;
            // A deleted session takes no more events (TryAsync lets that pass); an ended one records how the turn ended.
            await TryAsync(() => CloseOpenCallsAsync(Reason switch
            {
                StopReason.Shutdown => "aborted: Portal stopped before this call ran",
                StopReason.Ended => "aborted: the session ended before this call ran",
                _ => "aborted: the user cancelled the turn",
            }));
        }
        catch (SessionNotFoundException)
        {
            finish = false; // the session was deleted
            return Outcome(TurnStatuses.Cancelled, null, null);
        }
        catch (ModelProviderException ex)
        {
            status = TurnStatuses.Failed;
            (error, errorCode) = (ex.Message, ex.Code);
            await AppendLoopAsync(EventTypes.Error, new ErrorPayload(ex.Message, ex.Code, RunId, Retrying: false));
            await CloseOpenCallsAsync("aborted: the turn failed");
        }
        catch (Exception ex) when (ex is not InvalidOperationException || !_runtime.Stopping)
        {
            status = TurnStatuses.Failed;
            (error, errorCode) = ("The agent failed: " + ex.Message, "agent_failed");
            _runtime.LogTurnFailed(ex, SessionId);
            await TryAsync(async () => await AppendLoopAsync(EventTypes.Error, new ErrorPayload(error, errorCode, RunId)));
        }
        finally
        {
            Finishing = true;
            if (finish)
            {
                await TryAsync(async () =>
                {
                    await AppendLoopAsync(AgentEventTypes.LoadingState, new LoadingStatePayload(false));
                    await AppendLoopAsync(AgentEventTypes.AgentFinished, new AgentFinishedPayload(
                        _lastResponseId ?? RunId, RunId, status, new UsagePayload(_inputTokens, _outputTokens), error));
                    // A turn Portal's stop cut short leaves its session interrupted, visibly, until the next activity.
                    await _runtime.Bus.SetStatusAsync(SessionId, status == TurnStatuses.Interrupted ? SessionStatuses.Interrupted
                        : _conversation.Kind == SessionKinds.ChatWebSocket ? SessionStatuses.Active : SessionStatuses.Idle, CancellationToken.None);
                });
            }
            AgentRuntime.TurnEnded(_conversation, this);
        }
        return Outcome(status, error, errorCode);
    }

    private TurnOutcome Outcome(string status, string? error, string? code) => new(RunId, status, _finalText.ToString(), error, code);

    private async Task<string> LoopAsync()
    {
        var steps = 0;
        var modelAnswered = false;
        var resume = _resumeAnswer;
        while (true)
        {
            var open = Transcript.UnansweredCalls();
            if (open.Count > 0)
            {
                if (!await AnswerCallsAsync(open, resume))
                {
                    return TurnStatuses.Denied;
                }
                resume = null;
            }
            else if (modelAnswered)
            {
                return TurnStatuses.Completed;
            }
            if (++steps > _options.MaxSteps)
            {
                await AppendLoopAsync(EventTypes.Error, new ErrorPayload(
                    $"The agent stopped after {_options.MaxSteps} model calls in one turn (Portal:Agents:MaxSteps).", "max_steps", RunId));
                return TurnStatuses.Failed;
            }
            await _runtime.CompactIfNeededAsync(_conversation, this, Token);
            await ModelStepAsync();
            modelAnswered = true;
        }
    }

    internal ModelRequest Request(IReadOnlyList<ModelMessage> messages, bool withTools) => new(
        Profile.Model, Profile.Instructions, messages, withTools && _toolsEnabled ? AgentTools.Definitions : [], Profile.Temperature, Profile.MaxTokens);

    /// <summary>One model call: text streamed as deltas, then the complete items; retried while nothing has streamed.</summary>
    private async Task ModelStepAsync()
    {
        var responseId = "resp_" + Guid.NewGuid().ToString("N");
        var itemId = "msg_" + Guid.NewGuid().ToString("N");
        _lastResponseId = responseId;
        var text = new StringBuilder();
        var calls = new List<ToolCall>();
        var request = Request(Transcript.ForModel(_options.MaxHistory), withTools: true);
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await foreach (var e in _runtime.StreamAsync(Profile.Client, request, Token))
                    {
                        switch (e)
                        {
                            case TextDelta delta when delta.Text.Length > 0:
                                text.Append(delta.Text);
                                await AppendLoopAsync(EventTypes.ResponseDelta, new ResponseDeltaPayload(RunId, itemId, delta.Text));
                                break;
                            case ToolCallRequested requested:
                                calls.Add(requested.Call);
                                break;
                            case UsageReported usage:
                                _inputTokens += usage.InputTokens;
                                _outputTokens += usage.OutputTokens;
                                break;
                        }
                    }
                    break;
                }
                catch (ModelProviderException ex) when (ex.Retryable && text.Length == 0 && calls.Count == 0 && attempt < _options.MaxRetries)
                {
                    var delay = ex.RetryAfter ?? TimeSpan.FromTicks(_options.RetryDelay.Ticks * (1L << attempt));
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks, TimeSpan.FromSeconds(60).Ticks));
                    await AppendLoopAsync(EventTypes.Error, new ErrorPayload(
                        $"{ex.Message} Retrying in {delay.TotalSeconds:0.#} s (attempt {attempt + 2} of {_options.MaxRetries + 1}).", ex.Code, RunId, Retrying: true));
                    await Task.Delay(delay, _runtime.Time, Token);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ModelProviderException)
        {
            // What arrived before the failure is kept, marked incomplete; calls that never completed are not made.
            if (text.Length > 0)
            {
                await AppendLoopAsync(EventTypes.ResponseItem, ResponseItemPayload.AssistantMessage(RunId, responseId, itemId, text.ToString(), incomplete: true));
                Transcript.AddAssistant(responseId, text.ToString(), []);
                _finalText.Clear().Append(text);
            }
            throw;
        }
        if (text.Length > 0)
        {
            await AppendLoopAsync(EventTypes.ResponseItem, ResponseItemPayload.AssistantMessage(RunId, responseId, itemId, text.ToString()));
            _finalText.Clear().Append(text);
        }
        foreach (var call in calls)
        {
            await AppendLoopAsync(EventTypes.ResponseItem, ResponseItemPayload.FunctionCall(RunId, responseId, call));
        }
        Transcript.AddAssistant(responseId, text.ToString(), calls);
    }

    /// <summary>Approves (or asks about) and runs each open call in order. False when a person denied one and stopped the turn.</summary>
    private async Task<bool> AnswerCallsAsync(IReadOnlyList<ToolCall> open, ApprovalAnswer? resume)
    {
        for (var i = 0; i < open.Count; i++)
        {
            var call = open[i];
            var invocation = AgentTools.Interpret(call);
            if (!_toolsEnabled)
            {
                invocation = invocation with { Error = "Tools are not available in this session." };
            }
            var files = invocation is { Kind: ToolKind.Patch, Patch: { } patch } ? PatchTool.Targets(patch) : [];
            var check = invocation.Error is null ? _conversation.Approvals.Check(invocation, _policy, files, _conversation.Directory) : ApprovalCheck.Run("cannot run");
            string? denial = null;
            if (check.Ask || (resume is not null && i == 0))
            {
                var answer = resume is not null && i == 0 ? resume : await AskAsync(invocation, files, check.Reason, repeated: false);
                while (answer.Decision == ReviewDecision.Explain && !answer.Cancels)
                {
                    await ExplainAsync(invocation);
                    answer = await AskAsync(invocation, files, check.Reason, repeated: true);
                }
                if (answer.Cancels)
                {
                    await StopAsync(StopReason.User);
                    Token.ThrowIfCancellationRequested();
                }
                switch (answer.Decision)
                {
                    case ReviewDecision.NoExit:
                        await OutputAsync(call.CallId, Transcript.AbortedOutput + (string.IsNullOrWhiteSpace(answer.Message) ? "" : ": " + answer.Message));
                        await CloseOpenCallsAsync("aborted: the user stopped the turn");
                        return false;
                    case ReviewDecision.NoContinue:
                        denial = Transcript.AbortedOutput + ": " + (string.IsNullOrWhiteSpace(answer.Message) ? "No, don't do that \u2014 keep going though." : answer.Message);
                        break;
                }
            }
            var output = denial ?? (await AgentTools.RunAsync(invocation, _conversation.Directory, ShellLimits.Default with { Timeout = _options.ShellTimeout }, Token)).ForModel();
            await OutputAsync(call.CallId, output);
        }
        return true;
    }

    private async Task OutputAsync(string callId, string output)
    {
        await AppendLoopAsync(EventTypes.ResponseItem, ResponseItemPayload.FunctionCallOutput(RunId, callId, output));
        Transcript.AddToolResult(callId, output);
    }

    /// <summary>Gives every call still without a result an "aborted" one, so the next turn's history is whole.</summary>
    private async Task CloseOpenCallsAsync(string output)
    {
        await TryAsync(async () =>
        {
            foreach (var call in Transcript.UnansweredCalls())
            {
                await OutputAsync(call.CallId, output);
            }
        });
    }

    private async Task<ApprovalAnswer> AskAsync(ToolInvocation invocation, IReadOnlyList<string> files, string reason, bool repeated)
    {
        var pending = AgentRuntime.BeginApproval(_conversation, RunId, invocation, files);
        var workdir = invocation.Kind == ToolKind.Shell ? invocation.Workdir ?? "." : null;
        await AppendLoopAsync(EventTypes.ApprovalRequest, new ApprovalRequestPayload(RunId, invocation.Call.CallId, invocation.Call.Name,
            invocation.Kind == ToolKind.Shell ? invocation.Argv : null,
            invocation is { Kind: ToolKind.Patch, Patch: { } patch } ? new ApplyPatchInfo(patch, files) : null,
            workdir, reason, repeated));
        try
        {
            return _options.ApprovalTimeout is { } timeout
                ? await pending.Answer.Task.WaitAsync(timeout, _runtime.Time, Token)
                : await pending.Answer.Task.WaitAsync(Token);
        }
        catch (TimeoutException)
        {
            var note = $"No answer within {AgentRuntime.Describe(_options.ApprovalTimeout!.Value)}; denied.";
            return await _runtime.ExpireApprovalAsync(_conversation, pending, note) ?? await pending.Answer.Task;
        }
        catch (OperationCanceledException) when (Reason != StopReason.Shutdown)
        {
            await _runtime.WithdrawApprovalAsync(_conversation, pending, Reason == StopReason.Ended ? null : "cancelled");
            throw;
        }
    }

    /// <summary>Asks the model to explain the call in plain words and logs the explanation as an item of the conversation.</summary>
    private async Task ExplainAsync(ToolInvocation invocation)
    {
        var itemId = "msg_" + Guid.NewGuid().ToString("N");
        var text = new StringBuilder();
        try
        {
            await foreach (var e in _runtime.StreamAsync(Profile.Client, AgentPrompts.Explain(Request([], withTools: false), invocation), Token))
            {
                if (e is TextDelta delta)
                {
                    text.Append(delta.Text);
                    await AppendLoopAsync(EventTypes.ResponseDelta, new ResponseDeltaPayload(RunId, itemId, delta.Text, invocation.Call.CallId));
                }
            }
        }
        catch (ModelProviderException ex)
        {
            text.Append(text.Length > 0 ? "\n\n" : "").Append("(The explanation could not be completed: ").Append(ex.Message).Append(')');
        }
        var explanation = ResponseItemPayload.AssistantMessage(RunId, "explain_" + invocation.Call.CallId, itemId, text.ToString()) with { Explains = invocation.Call.CallId };
        await AppendLoopAsync(EventTypes.ResponseItem, explanation);
    }

    private ValueTask<SessionEvent> AppendLoopAsync<T>(string type, T payload) => AppendAsync(_conversation.LoopDirection, type, payload);

    /// <summary>Appends without the turn's token: a stopped turn still records how it ended.</summary>
    private ValueTask<SessionEvent> AppendAsync<T>(string direction, string type, T payload) =>
        _runtime.Bus.AppendAsync(SessionId, AgentJson.Event(direction, type, EventActors.Agent, payload), CancellationToken.None);

    private async Task TryAsync(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (SessionNotFoundException)
        {
            // deleted meanwhile
        }
        catch (InvalidOperationException ex) when (_runtime.Stopping)
        {
            _runtime.LogNotRecorded(ex, SessionId); // the log stopped accepting events: Portal is shutting down
        }
    }
}
