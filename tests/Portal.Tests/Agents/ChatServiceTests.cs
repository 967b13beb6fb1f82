using System.Security.Claims;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Portal.Agents.Chat;
using Portal.Sessions;
using Portal.Tests.Sessions;

namespace Portal.Tests.Agents;

public sealed class ChatServiceTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ClaimsPrincipal User(string id) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, id)], "test"));

    [Fact]
    public async Task Send_NewConversation_ReplyIsStreamedThenCompleted()
    {
        await using var harness = await SessionsHarness.StartAsync(new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00" });
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, Ct);

        Assert.Equal(SendOutcome.Started, await chat.SendAsync(session.Id, alice, "hello", Ct));
        var types = await TypesUntilRunFinishedAsync(harness, session.Id);

        Assert.Equal([EventTypes.SessionStarted, EventTypes.UserInput, EventTypes.RunStarted], types.Take(3));
        Assert.All(types.Skip(3).SkipLast(2), t => Assert.Equal(EventTypes.ResponseDelta, t));
        Assert.Equal([EventTypes.ResponseItem, EventTypes.RunFinished], types.TakeLast(2));
        Assert.Equal("hello", (await harness.Store.GetAsync(session.Id, Ct))!.Title);
    }

    [Fact]
    public async Task Send_WhileAReplyIsRunning_IsBusy()
    {
        await using var harness = await SessionsHarness.StartAsync(new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.050" });
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, Ct);
        await chat.SendAsync(session.Id, alice, "first", Ct);

        Assert.Equal(SendOutcome.Busy, await chat.SendAsync(session.Id, alice, "second", Ct));
        await chat.StopAsync(session.Id, alice, Ct);
    }

    [Fact]
    public async Task Stop_MidReply_KeepsThePartialReplyAndEndsTheRunStopped()
    {
        await using var harness = await SessionsHarness.StartAsync(new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.050" });
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, Ct);
        await chat.SendAsync(session.Id, alice, "tell me something long", Ct);
        await foreach (var e in harness.Bus.SubscribeAsync(session.Id, 0, Ct))
        {
            if (e.Type == EventTypes.ResponseDelta)
            {
                break;
            }
        }

        await chat.StopAsync(session.Id, alice, Ct);
        var events = await harness.Bus.ReadAsync(session.Id, 0, 1_000, Ct);

        var streamed = string.Concat(events.Where(e => e.Type == EventTypes.ResponseDelta)
            .Select(e => JsonSerializer.Deserialize<ResponseDeltaPayload>(e.Payload, Web)!.Delta));
        var item = JsonSerializer.Deserialize<ResponseItemPayload>(events.Single(e => e.Type == EventTypes.ResponseItem).Payload, Web)!;
        var finished = JsonSerializer.Deserialize<RunFinishedPayload>(events[^1].Payload, Web)!;
        Assert.Equal(RunStatuses.Stopped, finished.Status);
        Assert.Equal(streamed, item.Text);
        Assert.NotEmpty(streamed);
        Assert.True(streamed.Length < Portal.Agents.Offline.OfflineAgent.Reply("tell me something long").Length);
        Assert.False(chat.IsRunning(session.Id));
    }

    [Fact]
    public async Task Send_ToSomeoneElsesConversation_IsNotFound()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var chat = harness.Services.GetRequiredService<ChatService>();
        var session = await chat.StartConversationAsync(User("alice"), Ct);

        Assert.Equal(SendOutcome.NotFound, await chat.SendAsync(session.Id, User("mallory"), "hi", Ct));
        Assert.Equal(1, await harness.Bus.GetLastSeqAsync(session.Id, Ct));
    }

    [Fact]
    public async Task Shutdown_DuringAReply_RecordsTheRunAsInterrupted()
    {
        var harness = await SessionsHarness.StartAsync(new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.050" });
        var chat = harness.Services.GetRequiredService<ChatService>();
        var alice = User("alice");
        var session = await chat.StartConversationAsync(alice, Ct);
        await chat.SendAsync(session.Id, alice, "a long question", Ct);
        await WaitForTypeAsync(harness, session.Id, EventTypes.ResponseDelta);

        harness = await harness.RestartAsync();
        await using var _ = harness;

        var events = await harness.Bus.ReadAsync(session.Id, 0, 1_000, Ct);
        var finished = JsonSerializer.Deserialize<RunFinishedPayload>(events.Last(e => e.Type == EventTypes.RunFinished).Payload, Web)!;
        Assert.Equal(RunStatuses.Interrupted, finished.Status);
        Assert.Equal(SessionStatuses.Idle, (await harness.Store.GetAsync(session.Id, Ct))!.Status);
    }

    [Fact]
    public async Task Restart_AfterACrashMidReply_ClosesTheCutOffRunAsInterrupted()
    {
        var harness = await SessionsHarness.StartAsync();
        var session = await harness.Bus.CreateSessionAsync(new NewSession(SessionKinds.Chat, "alice"), Ct);
        // What a crash leaves behind: the run started, nothing finished it, the session still says active.
        await harness.Bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.In, EventTypes.UserInput, EventActors.User, new UserInputPayload("hi")), Ct);
        await harness.Bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.Internal, EventTypes.RunStarted, EventActors.Agent, new RunStartedPayload("run-1", "Offline agent", true)), Ct);
        await harness.Bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.Out, EventTypes.ResponseDelta, EventActors.Agent, new ResponseDeltaPayload("run-1", "item-1", "Hel")), Ct);

        harness = await harness.RestartAsync();
        await using var _ = harness;

        var events = await harness.Bus.ReadAsync(session.Id, 0, 100, Ct);
        Assert.Equal(4, events.Count);
        var finished = JsonSerializer.Deserialize<RunFinishedPayload>(events[^1].Payload, Web)!;
        Assert.Equal(("run-1", RunStatuses.Interrupted), (finished.RunId, finished.Status));
        Assert.Equal(SessionStatuses.Idle, (await harness.Store.GetAsync(session.Id, Ct))!.Status);
    }

    private static async Task WaitForTypeAsync(SessionsHarness harness, string sessionId, string type)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await foreach (var e in harness.Bus.SubscribeAsync(sessionId, 0, timeout.Token))
        {
            if (e.Type == type)
            {
                return;
            }
        }
    }

    private static async Task<List<string>> TypesUntilRunFinishedAsync(SessionsHarness harness, string sessionId)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var types = new List<string>();
        await foreach (var e in harness.Bus.SubscribeAsync(sessionId, 0, timeout.Token))
        {
            types.Add(e.Type);
            if (e.Type == EventTypes.RunFinished)
            {
                break;
            }
        }
        return types;
    }
}
