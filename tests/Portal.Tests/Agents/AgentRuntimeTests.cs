using System.Security.Claims;
using Microsoft.Extensions.DependencyInjection;
using Portal.Agents.Approvals;
using Portal.Agents.Chat;
using Portal.Agents.Runtime;
using Portal.Sessions;
using Portal.Tests.Sessions;

namespace Portal.Tests.Agents;

/// <summary>
/// The agent runtime as the chat UI drives it, with the built-in offline agent as the model: turns that belong to the
/// session, approvals that survive a restart, stops and crashes that are recorded.
/// </summary>
public sealed class AgentRuntimeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Dictionary<string, string?> Slow = new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.030" };
    private static readonly Dictionary<string, string?> Fast = new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00" };

    private static ClaimsPrincipal User(string id) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, id), new Claim(ClaimTypes.Name, id)], "test"));

    private static string Workspace(SessionsHarness harness, string owner) => Path.Combine(harness.Folder, "workspaces", owner);

    [Fact]
    public async Task Send_ReplyIsStreamed_AndTheTurnIsFramedByLoadingStateAndOneAgentFinished()
    {
        await using var harness = await SessionsHarness.StartAsync(Fast);
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, null, Ct);

        Assert.Equal(SendOutcome.Started, await chat.SendAsync(session.Id, alice, "hello", Ct));
        var events = await UntilAsync(harness, session.Id, AgentEventTypes.AgentFinished);
        var types = events.Select(e => e.Type).ToList();

        Assert.Equal([EventTypes.SessionStarted, EventTypes.UserInput, EventTypes.RunStarted, AgentEventTypes.LoadingState], types.Take(4));
        Assert.All(types.Skip(4).SkipLast(3), t => Assert.Equal(EventTypes.ResponseDelta, t));
        Assert.Equal([EventTypes.ResponseItem, AgentEventTypes.LoadingState, AgentEventTypes.AgentFinished], types.TakeLast(3));
        Assert.Equal(TurnStatuses.Completed, Payload<AgentFinishedPayload>(events[^1]).Status);
        Assert.Equal("hello", (await harness.Store.GetAsync(session.Id, Ct))!.Title);
    }

    [Fact]
    public async Task Send_WhileATurnRuns_IsBusy_AndRecordsNothing()
    {
        await using var harness = await SessionsHarness.StartAsync(Slow);
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, null, Ct);
        await chat.SendAsync(session.Id, alice, "first", Ct);
        var before = await harness.Bus.ReadAsync(session.Id, 0, 1_000, Ct);

        Assert.Equal(SendOutcome.Busy, await chat.SendAsync(session.Id, alice, "second", Ct));
        Assert.Single(await harness.Bus.ReadAsync(session.Id, 0, 1_000, Ct), e => e.Type == EventTypes.UserInput);
        Assert.True(before.Count > 0);
        await chat.StopAsync(session.Id, alice, Ct);
    }

    [Fact]
    public async Task Stop_MidReply_KeepsThePartialReplyMarkedIncomplete_AndTheTurnCancelled()
    {
        await using var harness = await SessionsHarness.StartAsync(Slow);
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, null, Ct);
        await chat.SendAsync(session.Id, alice, "tell me something long", Ct);
        await UntilAsync(harness, session.Id, EventTypes.ResponseDelta);

        await chat.StopAsync(session.Id, alice, Ct);
        var events = await harness.Bus.ReadAsync(session.Id, 0, 1_000, Ct);

        var streamed = string.Concat(events.Where(e => e.Type == EventTypes.ResponseDelta).Select(e => Payload<ResponseDeltaPayload>(e).Delta));
        var item = Payload<ResponseItemPayload>(events.Single(e => e.Type == EventTypes.ResponseItem));
        Assert.Equal(TurnStatuses.Cancelled, Payload<AgentFinishedPayload>(events[^1]).Status);
        Assert.Equal(("incomplete", streamed), (item.Status, item.Text));
        Assert.StartsWith("**Offline", streamed, StringComparison.Ordinal);
        Assert.Contains(events, e => e.Type == AgentEventTypes.Cancel && e.Direction == EventDirections.In);
        Assert.False(chat.IsRunning(session.Id));
    }

    [Fact]
    public async Task Send_ToSomeoneElsesConversation_IsNotFound()
    {
        await using var harness = await SessionsHarness.StartAsync(Fast);
        var chat = harness.Services.GetRequiredService<ChatService>();
        var session = await chat.StartConversationAsync(User("alice"), null, Ct);

        Assert.Equal(SendOutcome.NotFound, await chat.SendAsync(session.Id, User("mallory"), "hi", Ct));
        Assert.Equal(1, await harness.Bus.GetLastSeqAsync(session.Id, Ct));
    }

    [Fact]
    public async Task ApprovedToolCall_RunsInTheOwnersWorkspace_AndASecondAnswerFindsNothingPending()
    {
        await using var harness = await SessionsHarness.StartAsync(Fast);
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, null, Ct);
        await chat.SendAsync(session.Id, alice, "run touch from-ui.txt", Ct);
        var request = Payload<ApprovalRequestPayload>((await UntilAsync(harness, session.Id, EventTypes.ApprovalRequest))[^1]);
        Assert.Equal(["touch", "from-ui.txt"], request.Command);

        // Two tabs answer at once: exactly one answer counts.
        var answers = await Task.WhenAll(
            chat.DecideAsync(session.Id, alice, request.CallId, ReviewDecision.Yes, null, Ct),
            chat.DecideAsync(session.Id, alice, request.CallId, ReviewDecision.NoExit, null, Ct));
        var events = await UntilAsync(harness, session.Id, AgentEventTypes.AgentFinished);

        Assert.Single(answers, a => a == DecisionStatus.Accepted);
        Assert.Single(answers, a => a == DecisionStatus.NoPendingApproval);
        var decision = Payload<ApprovalDecisionPayload>(events.Single(e => e.Type == EventTypes.ApprovalDecision));
        Assert.Equal(decision.Decision == "yes", File.Exists(Path.Combine(Workspace(harness, "alice"), "from-ui.txt")));
    }

    [Fact]
    public async Task PendingApproval_SurvivesARestart_AndAnsweringItContinuesTheSameTurn()
    {
        var harness = await SessionsHarness.StartAsync(Fast);
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, null, Ct);
        await chat.SendAsync(session.Id, alice, "run touch after-restart.txt", Ct);
        var request = Payload<ApprovalRequestPayload>((await UntilAsync(harness, session.Id, EventTypes.ApprovalRequest))[^1]);

        harness = await harness.RestartAsync(Fast);
        await using var _ = harness;
        chat = harness.Services.GetRequiredService<ChatService>();
        Assert.True(chat.IsRunning(session.Id));
        Assert.Equal(SessionStatuses.Active, (await harness.Store.GetAsync(session.Id, Ct))!.Status);
        Assert.Equal(SendOutcome.Busy, await chat.SendAsync(session.Id, alice, "something else", Ct));

        Assert.Equal(DecisionStatus.Accepted, await chat.DecideAsync(session.Id, alice, request.CallId, ReviewDecision.Yes, null, Ct));
        var events = await UntilAsync(harness, session.Id, AgentEventTypes.AgentFinished);

        Assert.True(File.Exists(Path.Combine(Workspace(harness, "alice"), "after-restart.txt")));
        Assert.Equal(TurnStatuses.Completed, Payload<AgentFinishedPayload>(events[^1]).Status);
        Assert.Single(events, e => e.Type == EventTypes.RunStarted);
        Assert.Single(events, e => e.Type == AgentEventTypes.AgentFinished);
        Assert.Equal([true, false], events.Where(e => e.Type == AgentEventTypes.LoadingState).Select(e => Payload<LoadingStatePayload>(e).Loading));
        Assert.Equal(request.RunId, Payload<AgentFinishedPayload>(events[^1]).RunId);
        Assert.Equal(SessionStatuses.Idle, await StatusSoonAsync(harness, session.Id, SessionStatuses.Idle));
    }

    [Fact]
    public async Task Shutdown_DuringAReply_RecordsTheTurnAsInterrupted()
    {
        var harness = await SessionsHarness.StartAsync(Slow);
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, null, Ct);
        await chat.SendAsync(session.Id, alice, "a long question", Ct);
        await UntilAsync(harness, session.Id, EventTypes.ResponseDelta);

        harness = await harness.RestartAsync();
        await using var _ = harness;

        var events = await harness.Bus.ReadAsync(session.Id, 0, 1_000, Ct);
        Assert.Equal(TurnStatuses.Interrupted, Payload<AgentFinishedPayload>(events.Single(e => e.Type == AgentEventTypes.AgentFinished)).Status);
        Assert.Equal("incomplete", Payload<ResponseItemPayload>(events.Single(e => e.Type == EventTypes.ResponseItem)).Status);
        Assert.Equal(SessionStatuses.Interrupted, (await harness.Store.GetAsync(session.Id, Ct))!.Status);
    }

    [Fact]
    public async Task Restart_AfterACrashMidReply_ClosesTheCutOffTurnAsInterrupted_AndTheConversationGoesOn()
    {
        var harness = await SessionsHarness.StartAsync(Fast);
        var session = await harness.Bus.CreateSessionAsync(new NewSession(SessionKinds.Chat, "alice"), Ct);
        // What a crash leaves behind: the turn started, nothing finished it, the session still says active.
        var input = await harness.Bus.AppendAsync(session.Id, AgentJson.Event(EventDirections.In, EventTypes.UserInput, EventActors.User, UserInputPayload.FromText("hi")), Ct);
        await harness.Bus.AppendAsync(session.Id, AgentJson.Event(EventDirections.Internal, EventTypes.RunStarted, EventActors.Agent,
            new RunStartedPayload("run-1", input.Seq, "Offline agent", "offline", "offline", true)), Ct);
        await harness.Bus.AppendAsync(session.Id, AgentJson.Event(EventDirections.Out, EventTypes.ResponseDelta, EventActors.Agent, new ResponseDeltaPayload("run-1", "item-1", "Hel")), Ct);
        await harness.Bus.SetStatusAsync(session.Id, SessionStatuses.Active, Ct);

        harness = await harness.RestartAsync(Fast);
        await using var _ = harness;

        var events = await harness.Bus.ReadAsync(session.Id, 0, 100, Ct);
        var finished = Payload<AgentFinishedPayload>(events[^1]);
        Assert.Equal(("run-1", TurnStatuses.Interrupted), (finished.RunId, finished.Status));
        Assert.Equal(SessionStatuses.Interrupted, (await harness.Store.GetAsync(session.Id, Ct))!.Status);

        var chat = harness.Services.GetRequiredService<ChatService>();
        Assert.Equal(SendOutcome.Started, await chat.SendAsync(session.Id, User("alice"), "again", Ct));
        var after = await UntilAsync(harness, session.Id, AgentEventTypes.AgentFinished, afterSeq: events[^1].Seq);
        Assert.Equal(TurnStatuses.Completed, Payload<AgentFinishedPayload>(after[^1]).Status);
    }

    [Fact]
    public async Task Restart_TwiceAfterACrashMidReply_ClosesTheCutOffTurnOnce_AndTheSessionStaysInterrupted()
    {
        var harness = await SessionsHarness.StartAsync(Fast);
        var session = await harness.Bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, "alice"), Ct);
        var input = await harness.Bus.AppendAsync(session.Id, AgentJson.Event(EventDirections.In, EventTypes.UserInput, EventActors.User, UserInputPayload.FromText("hi")), Ct);
        await harness.Bus.AppendAsync(session.Id, AgentJson.Event(EventDirections.Internal, EventTypes.RunStarted, EventActors.Agent,
            new RunStartedPayload("run-1", input.Seq, "Offline agent", "offline", "offline", true)), Ct);
        await harness.Bus.SetStatusAsync(session.Id, SessionStatuses.Active, Ct);

        harness = await harness.RestartAsync(Fast);
        harness = await harness.RestartAsync(Fast);
        await using var _ = harness;

        var events = await harness.Bus.ReadAsync(session.Id, 0, 100, Ct);
        Assert.Single(events, e => e.Type == AgentEventTypes.AgentFinished);
        Assert.Equal(SessionStatuses.Interrupted, (await harness.Store.GetAsync(session.Id, Ct))!.Status);
    }

    [Fact]
    public async Task Delete_DuringATurn_StopsIt()
    {
        await using var harness = await SessionsHarness.StartAsync(Slow);
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, null, Ct);
        await chat.SendAsync(session.Id, alice, "a long question", Ct);
        await UntilAsync(harness, session.Id, EventTypes.ResponseDelta);

        Assert.True(await chat.DeleteAsync(session.Id, alice, Ct));

        Assert.False(chat.IsRunning(session.Id));
        Assert.Null(await harness.Store.GetAsync(session.Id, Ct));
    }

    private static T Payload<T>(SessionEvent e) => AgentJson.Read<T>(e.Payload)!;

    /// <summary>The session's status once it is <paramref name="expected"/>, or whatever it is after five seconds (the status follows the last event).</summary>
    private static async Task<string> StatusSoonAsync(SessionsHarness harness, string sessionId, string expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            var status = (await harness.Store.GetAsync(sessionId, Ct))!.Status;
            if (status == expected || DateTime.UtcNow > deadline)
            {
                return status;
            }
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>Every event of the session up to and including the first of <paramref name="type"/> after <paramref name="afterSeq"/>.</summary>
    private static async Task<List<SessionEvent>> UntilAsync(SessionsHarness harness, string sessionId, string type, long afterSeq = 0)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var events = new List<SessionEvent>();
        await foreach (var e in harness.Bus.SubscribeAsync(sessionId, 0, timeout.Token))
        {
            events.Add(e);
            if (e.Type == type && e.Seq > afterSeq)
            {
                return events;
            }
        }
        throw new InvalidOperationException("The subscription ended.");
    }
}
