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
    IHostApplicationLifetime lifetime,
    ILogger<ChatService> logger)
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
        var session = await bus.CreateSessionAsync(new NewSession(SessionKinds.Chat, ownerId, Agent: OfflineAgent.Name), cancellationToken);
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
        var run = new Run(Guid.NewGuid().ToString("N"), CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping));
        if (!_runs.TryAdd(sessionId, run))
        {
            run.Cancellation.Dispose();
            return SendOutcome.Busy;
        }
        try
        {
            await bus.AppendAsync(sessionId, NewSessionEvent.FromObject(EventDirections.In, EventTypes.UserInput, EventActors.User,
                new UserInputPayload(text)), cancellationToken);
            if (session.Title is null)
            {
                await bus.SetTitleAsync(sessionId, TitleFrom(text), cancellationToken);
                ConversationsChanged?.Invoke(session.OwnerId!);
            }
        }
        catch
        {
            _runs.TryRemove(sessionId, out _);
            run.Cancellation.Dispose();
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
        run.StopRequested = true;
        await run.Cancellation.CancelAsync();
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
            run.StopRequested = true;
            await run.Cancellation.CancelAsync();
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
        }
        catch (SessionNotFoundException)
        {
            // deleted while replying
        }
        finally
        {
            Finish();
        }

        void Finish()
        {
            _runs.TryRemove(new KeyValuePair<string, Run>(sessionId, run));
            run.Cancellation.Dispose();
        }
    }

    private ValueTask<SessionEvent> AppendAsync<T>(string sessionId, string direction, string type, string actor, T payload) =>
        bus.AppendAsync(sessionId, NewSessionEvent.FromObject(direction, type, actor, payload), CancellationToken.None);

    internal static string TitleFrom(string text)
    {
        var line = text.Split('\n', 2)[0].Trim();
        return line.Length <= 60 ? line : line[..57].TrimEnd() + "\u2026";
    }

    private sealed class Run(string id, CancellationTokenSource cancellation)
    {
        public string Id { get; } = id;
        public CancellationTokenSource Cancellation { get; } = cancellation;
        public volatile bool StopRequested;
        public Task? Task { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "The reply in session {SessionId} failed")]
        public static partial void RunFailed(ILogger logger, Exception exception, string sessionId);
    }
}
