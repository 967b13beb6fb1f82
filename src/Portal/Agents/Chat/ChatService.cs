using System.Security.Claims;
using Portal.Agents.Approvals;
using Portal.Agents.Runtime;
using Portal.Security;
using Portal.Security.Limits;
using Portal.Sessions;

namespace Portal.Agents.Chat;

public enum SendOutcome { Started, Busy, NotFound, Empty }

/// <summary>
/// The chat UI's side of the agent runtime: conversations are sessions of kind <c>chat</c> owned by the signed-in
/// user. What the user does (send, approve, stop) is recorded as the session's incoming events, exactly as a
/// <c>/ws/agent</c> client's frames are, and the runtime does the rest.
/// </summary>
public sealed class ChatService(ISessionBus bus, ISessionStore store, AgentRuntime runtime, ClientLimits limits)
{
    public const int MaxMessageLength = 32_000;
    public const int MaxTitleLength = 120;

    /// <summary>Raised with the owner's id when one of their conversations is created, renamed or deleted.</summary>
    public event Action<string>? ConversationsChanged;

    public bool IsRunning(string sessionId) => runtime.IsBusy(sessionId);

    public async Task<SessionInfo> StartConversationAsync(ClaimsPrincipal user, string? agent, CancellationToken cancellationToken)
    {
        var ownerId = user.UserId() ?? throw new InvalidOperationException("Sign in to start a conversation.");
        if (!limits.TryStartSession(ownerId, null, out var refused))
        {
            throw new LimitExceededException(refused!);
        }
        var session = await runtime.CreateSessionAsync(SessionKinds.Chat, ownerId, agent, cancellationToken);
        ConversationsChanged?.Invoke(ownerId);
        return session;
    }

    /// <summary>Appends the user's message and starts the agent's turn in the background.</summary>
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
        var session = await FindAsync(sessionId, user, cancellationToken);
        if (session is null)
        {
            return SendOutcome.NotFound;
        }
        if (runtime.IsBusy(sessionId))
        {
            return SendOutcome.Busy; // the composer is disabled meanwhile; nothing is recorded
        }
        var input = await bus.AppendAsync(sessionId, AgentJson.Event(EventDirections.In, EventTypes.UserInput, EventActors.User,
            UserInputPayload.FromText(text)), cancellationToken);
        if (session.Title is null)
        {
            await bus.SetTitleAsync(sessionId, TitleFrom(text), cancellationToken);
            ConversationsChanged?.Invoke(session.OwnerId!);
        }
        var start = await runtime.StartTurnAsync(sessionId, input.Seq, text, cancelCurrent: false, toolsEnabled: true, by: user.Identity?.Name ?? "user");
        if (start.Status == TurnStartStatus.Busy)
        {
            await bus.AppendAsync(sessionId, AgentJson.Event(EventDirections.Out, EventTypes.Error, EventActors.System,
                new ErrorPayload("The agent is still working on the previous message; this one was not sent.", "busy", InputSeq: input.Seq)), cancellationToken);
        }
        return start.Status switch
        {
            TurnStartStatus.Started => SendOutcome.Started,
            TurnStartStatus.Busy => SendOutcome.Busy,
            _ => SendOutcome.NotFound,
        };
    }

    /// <summary>Answers the conversation's pending approval.</summary>
    public async Task<DecisionStatus> DecideAsync(string sessionId, ClaimsPrincipal user, string callId, ReviewDecision decision, string? message, CancellationToken cancellationToken)
    {
        if (await FindAsync(sessionId, user, cancellationToken) is null)
        {
            return DecisionStatus.NotFound;
        }
        await bus.AppendAsync(sessionId, AgentJson.Event(EventDirections.In, AgentEventTypes.ApprovalResponse, EventActors.User,
            new { review = decision.WireName(), callId, customDenyMessage = message }), cancellationToken);
        return await runtime.DecideAsync(sessionId, callId, decision, message, user.Identity?.Name ?? "user");
    }

    /// <summary>Stops the running turn; what was written so far is kept and marked cancelled.</summary>
    public async Task StopAsync(string sessionId, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        if (await FindAsync(sessionId, user, cancellationToken) is null || !runtime.IsBusy(sessionId))
        {
            return;
        }
        await bus.AppendAsync(sessionId, AgentJson.Event(EventDirections.In, AgentEventTypes.Cancel, EventActors.User, new { }), cancellationToken);
        await runtime.CancelAsync(sessionId, user.Identity?.Name ?? "user");
    }

    public async Task<bool> RenameAsync(string sessionId, ClaimsPrincipal user, string title, CancellationToken cancellationToken)
    {
        var session = await FindAsync(sessionId, user, cancellationToken);
        if (session is null || string.IsNullOrWhiteSpace(title))
        {
            return false;
        }
        title = title.Trim();
        await bus.SetTitleAsync(sessionId, title.Length > MaxTitleLength ? title[..MaxTitleLength] : title, cancellationToken);
        ConversationsChanged?.Invoke(session.OwnerId!);
        return true;
    }

    public async Task<bool> DeleteAsync(string sessionId, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var session = await FindAsync(sessionId, user, cancellationToken);
        if (session is null)
        {
            return false;
        }
        await runtime.ForgetAsync(sessionId);
        var deleted = await bus.DeleteSessionAsync(sessionId, cancellationToken);
        ConversationsChanged?.Invoke(session.OwnerId!);
        return deleted;
    }

    private async Task<SessionInfo?> FindAsync(string sessionId, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var session = await store.GetAsync(sessionId, cancellationToken);
        return session is not null && session.Kind == SessionKinds.Chat && user.CanRead(session) ? session : null;
    }

    internal static string TitleFrom(string text)
    {
        var line = text.Split('\n', 2)[0].Trim();
        return line.Length <= 60 ? line : line[..57].TrimEnd() + "\u2026";
    }
}
