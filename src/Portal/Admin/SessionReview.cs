using System.Security.Claims;
using Portal.Agents.Chat;
using Portal.Agents.Runtime;
using Portal.Sessions;

namespace Portal.Admin;

/// <summary>A session as the admin's detail page opens it: its facts as of <see cref="LastSeq"/>, after which the live tail follows.</summary>
public sealed record SessionSnapshot(SessionInfo Session, long LastSeq);

/// <summary>
/// The admin's view of one session: a consistent snapshot up to a seq (facts, then the newest timeline page and the
/// digest of the summary panels), pages of older events on demand, the live tail after the snapshot with no gap and no
/// duplicate, and deletion. Opening someone else's session is audited (<see cref="SessionReadAudit"/>).
/// </summary>
public sealed class SessionReview(ISessionStore store, ISessionBus bus, AgentRuntime runtime, ChatService chat, SessionReadAudit audit)
{
    public const int PageSize = 100;

    /// <summary>How long opening a session waits for its queued events to reach the database before reading it anyway.</summary>
    private static readonly TimeSpan DurableWait = TimeSpan.FromSeconds(5);

    /// <summary>The session up to its last appended event, or null when it does not exist.</summary>
    public async Task<SessionSnapshot?> OpenAsync(string sessionId, ClaimsPrincipal viewer, CancellationToken cancellationToken)
    {
        if (await store.GetAsync(sessionId, cancellationToken) is not { } found)
        {
            return null;
        }
        // Before the snapshot, so the page shows its own visit at the top of the timeline.
        await audit.RecordAsync(viewer, found, SessionReadAudit.Via.AdminPage, cancellationToken);
        long lastSeq;
        try
        {
            lastSeq = await bus.GetLastSeqAsync(sessionId, cancellationToken);
            await WaitUntilDurableAsync(sessionId, cancellationToken);
        }
        catch (SessionNotFoundException)
        {
            return null;
        }
        // Read again after the wait: the row's counters are touched by the writer.
        var session = await store.GetAsync(sessionId, cancellationToken);
        if (session is null)
        {
            return null;
        }
        return new SessionSnapshot(session with { EventCount = Math.Max(session.EventCount, lastSeq) }, lastSeq);
    }

    /// <summary>
    /// What the summary panels show, from the stored events up to <paramref name="upToSeq"/>: two passes over the log in
    /// SQLite (about 0.2 s for 100,000 events, see BENCHMARKS.md), so the page shows its timeline first.
    /// </summary>
    public async Task<SessionDigest> SummarizeAsync(string sessionId, long upToSeq, CancellationToken cancellationToken)
    {
        var digest = new SessionDigest();
        foreach (var tally in await store.TallyAsync(sessionId, upToSeq, cancellationToken))
        {
            digest.Tally(tally);
        }
        await foreach (var e in store.ReadOfTypesAsync(sessionId, SessionDigest.PayloadTypes, upToSeq, cancellationToken))
        {
            digest.Apply(e);
        }
        return digest;
    }

    /// <summary>The store is read up to the last seq, so every event up to it should be there; the writer lingers 2 ms.</summary>
    private async Task WaitUntilDurableAsync(string sessionId, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(DurableWait);
        try
        {
            await bus.WaitUntilDurableAsync(sessionId, wait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The writer is behind (or retrying a failed batch): show what is stored; the live tail still follows.
        }
    }

    /// <summary>Up to <see cref="PageSize"/> events below <paramref name="beforeSeq"/>, newest first, of <paramref name="type"/> when given.</summary>
    public Task<IReadOnlyList<SessionEvent>> ReadPageAsync(string sessionId, long beforeSeq, string? type, CancellationToken cancellationToken) =>
        store.ReadBackwardAsync(sessionId, beforeSeq, PageSize, type, cancellationToken);

    /// <summary>Events after <paramref name="afterSeq"/> as they are appended, until cancelled or the session is deleted.</summary>
    public IAsyncEnumerable<SessionEvent> FollowAsync(string sessionId, long afterSeq, CancellationToken cancellationToken) =>
        bus.SubscribeAsync(sessionId, afterSeq, cancellationToken);

    public Task<SessionInfo?> GetAsync(string sessionId, CancellationToken cancellationToken) => store.GetAsync(sessionId, cancellationToken);

    /// <summary>Stops whatever runs in the session, then deletes it with its events. False when it did not exist.</summary>
    public async Task<bool> DeleteAsync(string sessionId, ClaimsPrincipal admin, CancellationToken cancellationToken)
    {
        var session = await store.GetAsync(sessionId, cancellationToken);
        if (session is null)
        {
            return false;
        }
        if (session.Kind == SessionKinds.Chat)
        {
            // Through the chat service, so the owner's open conversation list drops it at once.
            return await chat.DeleteAsync(sessionId, admin, cancellationToken);
        }
        await runtime.ForgetAsync(sessionId);
        return await bus.DeleteSessionAsync(sessionId, cancellationToken);
    }
}
