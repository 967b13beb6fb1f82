using System.Net.WebSockets;
using Portal.Sessions;

namespace Portal.Endpoints.Sockets;

/// <summary>
/// Waits on the session log on behalf of a client at most <see cref="SessionsOptions.AppendTimeout"/>. While the
/// durable writer's queue is full (a locked database, a full disk), appends wait and clients slow down with it; a
/// client whose frame waited that long is told with close code 1013 (try again later), and that frame is neither
/// recorded nor acted on. Nothing the client was told was accepted is lost.
/// </summary>
internal static class SessionLogWait
{
    /// <summary>RFC 6455 7.4.1 "Try Again Later" (IANA registry): the server is overloaded.</summary>
    public const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;

    public const string Reason = "Session log busy; try again later";

    /// <summary>Appends the event; null when the writer's queue had no room within <paramref name="timeout"/> (nothing was appended).</summary>
    public static async Task<SessionEvent?> AppendAsync(ISessionBus bus, string sessionId, NewSessionEvent e, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(timeout);
        try
        {
            return await bus.AppendAsync(sessionId, e, wait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Waits until what the session has appended so far is durable; false when that took longer than <paramref name="timeout"/>.</summary>
    public static async Task<bool> UntilDurableAsync(ISessionBus bus, string sessionId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(timeout);
        try
        {
            await bus.WaitUntilDurableAsync(sessionId, wait.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
