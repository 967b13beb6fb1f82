using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text;
using Portal.Agents.Offline;
using Portal.Security;
using Portal.Sessions;

namespace Portal.Agents.Chat;

public enum SendOutcome { Started, Busy, NotFound, Empty }

/// <summary>
/// Portal chat conversations: each is a session of kind <c>chat</c>; a reply is a run that belongs to the session,
/// not to the page that asked for it, so it keeps going when the tab closes and every tab sees it through the bus.
/// One run at a time per session.
/// </summary>
public sealed partial class ChatService(
    ISessionBus bus,
    ISessionStore store,
    OfflineAgent agent,
    ILogger<ChatService> logger) : IHostedLifecycleService
{
    public const int MaxMessageLength = 32_000;
    private readonly ConcurrentDictionary<string, Run> _runs = new(StringComparer.Ordinal);

    /// <summary>Raised with the owner's id when one of their conversations is created, renamed or deleted.</summary>
    public event Action<string>? ConversationsChanged;

    public int ActiveRuns => _runs.Count;

    public bool IsRunning(string sessionId) => _runs.ContainsKey(sessionId);

    public async Task<SessionInfo> StartConversationAsync(ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var ownerId = user.UserId() ?? throw new InvalidOperationException("Sign in to start a conversation.");
        var session = await bus.CreateSessionAsync(
            new NewSession(SessionKinds.Chat, ownerId, Agent: OfflineAgent.Name, Status: SessionStatuses.Idle), cancellationToken);
        await bus.AppendAsync(session.Id, NewSessionEvent.FromObject(EventDirections.Internal, EventTypes.SessionStarted, EventActors.System,
            new { kind = SessionKinds.Chat, agent = OfflineAgent.Name }), cancellationToken);
        ConversationsChanged?.Invoke(ownerId);
        return session;
    }

    /// <summary>Appends the user's message and starts the reply in the background.</summary>
    public async Task<SendOutcome> SendAsync(string sessionId, ClaimsPrincipal user, string text, CancellationToken cancellationToken)
    {
        text = text.Trim();
        if (text.Length == 0)
        {
            return SendOutcome.Empty;
        }
        if (text.Length > MaxMessageLength)
        {
            text = text[..MaxMessageLength];
        }
        var session = await store.GetAsync(sessionId, cancellationToken);
        if (session is null || session.Kind != SessionKinds.Chat || !user.CanRead(session))
        {
            return SendOutcome.NotFound;
        }
        var run = new Run(Guid.NewGuid().ToString("N"), new CancellationTokenSource());
        if (!_runs.TryAdd(sessionId, run))
        {
            return SendOutcome.Busy;
        }
        try
        {
            await bus.AppendAsync(sessionId, NewSessionEvent.FromObject(EventDirections.In, EventTypes.UserInput, EventActors.User,
                new UserInputPayload(text)), cancellationToken);
            await bus.SetStatusAsync(sessionId, SessionStatuses.Active, cancellationToken);
            if (session.Title is null)
            {
                await bus.SetTitleAsync(sessionId, TitleFrom(text), cancellationToken);
                ConversationsChanged?.Invoke(session.OwnerId!);
            }
        }
        catch
        {
            _runs.TryRemove(sessionId, out _);
            throw;
        }
        run.Task = Task.Run(() => ReplyAsync(sessionId, run, text), CancellationToken.None);
        return SendOutcome.Started;
    }

    /// <summary>Stops the running reply of a session; the partial reply is kept and marked stopped.</summary>
    public async Task StopAsync(string sessionId, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var session = await store.GetAsync(sessionId, cancellationToken);
        if (session is null || !user.CanRead(session) || !_runs.TryGetValue(sessionId, out var run))
        {
            return;
        }
        await run.StopAsync();
        if (run.Task is { } task)
        {
            await task.WaitAsync(cancellationToken);
        }
    }

    public async Task<bool> RenameAsync(string sessionId, ClaimsPrincipal user, string title, CancellationToken cancellationToken)
    {
        var session = await store.GetAsync(sessionId, cancellationToken);
        if (session is null || !user.CanRead(session) || string.IsNullOrWhiteSpace(title))
        {
            return false;
        }
        await bus.SetTitleAsync(sessionId, title, cancellationToken);
        ConversationsChanged?.Invoke(session.OwnerId!);
        return true;
    }

    public async Task<bool> DeleteAsync(string sessionId, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var session = await store.GetAsync(sessionId, cancellationToken);
        if (session is null || !user.CanRead(session))
        {
            return false;
        }
        if (_runs.TryGetValue(sessionId, out var run))
        {
            await run.StopAsync();
        }
        var deleted = await bus.DeleteSessionAsync(sessionId, cancellationToken);
        ConversationsChanged?.Invoke(session.OwnerId!);
        return deleted;
    }

    private async Task ReplyAsync(string sessionId, Run run, string text)
    {
        // The run's own events are written even when it is stopped, so they use no cancellation token.
        var itemId = Guid.NewGuid().ToString("N");
        var reply = new StringBuilder();
        var status = RunStatuses.Completed;
        string? error = null;
        try
        {
            await AppendAsync(sessionId, EventDirections.Internal, EventTypes.RunStarted, EventActors.Agent, new RunStartedPayload(run.Id, OfflineAgent.Name, Offline: true));
            await foreach (var delta in agent.StreamReplyAsync(text, run.Cancellation.Token))
            {
                reply.Append(delta);
                await AppendAsync(sessionId, EventDirections.Out, EventTypes.ResponseDelta, EventActors.Agent, new ResponseDeltaPayload(run.Id, itemId, delta));
            }
        }
        catch (OperationCanceledException) when (run.Cancellation.IsCancellationRequested)
        {
            status = run.StopRequested ? RunStatuses.Stopped : RunStatuses.Interrupted;
        }
        catch (SessionNotFoundException)
        {
            Finish();
            return; // deleted while replying
        }
        catch (Exception ex)
        {
            status = RunStatuses.Failed;
            error = ex.Message;
            Log.RunFailed(logger, ex, sessionId);
        }
        try
        {
            if (reply.Length > 0)
            {
                await AppendAsync(sessionId, EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent,
                    ResponseItemPayload.AssistantMessage(run.Id, itemId, reply.ToString()));
            }
            if (error is not null)
            {
                await AppendAsync(sessionId, EventDirections.Out, EventTypes.Error, EventActors.System, new ErrorPayload(error, "agent_failed"));
            }
            await AppendAsync(sessionId, EventDirections.Internal, EventTypes.RunFinished, EventActors.Agent, new RunFinishedPayload(run.Id, status, error));
            await bus.SetStatusAsync(sessionId, SessionStatuses.Idle, CancellationToken.None);
        }
        catch (SessionNotFoundException)
        {
            // deleted while replying
        }
        catch (InvalidOperationException ex)
        {
            Log.RunNotRecorded(logger, ex, sessionId); // the log stopped accepting events: Portal is shutting down
        }
        finally
        {
            Finish();
        }

        void Finish() => _runs.TryRemove(new KeyValuePair<string, Run>(sessionId, run));
    }

    private ValueTask<SessionEvent> AppendAsync<T>(string sessionId, string direction, string type, string actor, T payload) =>
        bus.AppendAsync(sessionId, NewSessionEvent.FromObject(direction, type, actor, payload), CancellationToken.None);

    internal static string TitleFrom(string text)
    {
        var line = text.Split('\n', 2)[0].Trim();
        return line.Length <= 60 ? line : line[..57].TrimEnd() + "\u2026";
    }

    /// <summary>Before anything is served: replies cut off by a crash are closed as interrupted, visibly, in their conversation.</summary>
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        string[] runEvents = [EventTypes.RunStarted, EventTypes.RunFinished];
        while (true)
        {
            var page = await store.ListAsync(new SessionQuery { Kind = SessionKinds.Chat, Status = SessionStatuses.Interrupted, PageSize = 100 }, cancellationToken);
            foreach (var session in page.Items)
            {
                var last = await store.FindLastEventAsync(session.Id, runEvents, cancellationToken);
                if (last?.Type == EventTypes.RunStarted && Deserialize<RunStartedPayload>(last.Payload) is { } started)
                {
                    await AppendAsync(session.Id, EventDirections.Internal, EventTypes.RunFinished, EventActors.System,
                        new RunFinishedPayload(started.RunId, RunStatuses.Interrupted, "Portal stopped while this reply was being written."));
                    Log.RunInterrupted(logger, session.Id);
                }
                await bus.SetStatusAsync(session.Id, SessionStatuses.Idle, cancellationToken);
            }
            if (page.Items.Count < page.PageSize)
            {
                return;
            }
        }
    }

    /// <summary>On shutdown, running replies stop and record how they ended before the event log flushes.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var running = _runs.Values.ToList();
        foreach (var run in running)
        {
            await run.StopAsync(stoppedByUser: false);
        }
        await Task.WhenAll(running.Select(r => r.Task ?? Task.CompletedTask)).WaitAsync(cancellationToken);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static T? Deserialize<T>(string json)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<T>(json, SessionJsonWeb);
        }
        catch (System.Text.Json.JsonException)
        {
            return default;
        }
    }

    private static readonly System.Text.Json.JsonSerializerOptions SessionJsonWeb = new(System.Text.Json.JsonSerializerDefaults.Web);

    private sealed class Run(string id, CancellationTokenSource cancellation)
    {
        private int _stopping;

        public string Id { get; } = id;
        /// <summary>Cancelled to stop the run; never disposed, so a late stop cannot race a disposal.</summary>
        public CancellationTokenSource Cancellation { get; } = cancellation;
        public bool StopRequested { get; private set; }
        public Task? Task { get; set; }

        public Task StopAsync(bool stoppedByUser = true)
        {
            if (Interlocked.Exchange(ref _stopping, 1) == 1)
            {
                return Task.CompletedTask;
            }
            StopRequested = stoppedByUser;
            return Cancellation.CancelAsync();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "The reply in session {SessionId} failed")]
        public static partial void RunFailed(ILogger logger, Exception exception, string sessionId);

        [LoggerMessage(2, LogLevel.Warning, "The end of the reply in session {SessionId} could not be recorded")]
        public static partial void RunNotRecorded(ILogger logger, Exception exception, string sessionId);

        [LoggerMessage(3, LogLevel.Warning, "The reply in session {SessionId} was cut off when Portal last stopped; marked interrupted")]
        public static partial void RunInterrupted(ILogger logger, string sessionId);
    }
}
