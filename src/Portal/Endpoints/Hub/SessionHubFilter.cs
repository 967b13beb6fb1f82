using Microsoft.AspNetCore.SignalR;

namespace Portal.Endpoints.Hub;

/// <summary>
/// Runs around every invocation of <see cref="SessionHub"/>: applies the connection's rate limit before the method,
/// and turns an unexpected failure into an <c>internal_error</c> the client can read, so no exception text from inside
/// Portal reaches a client (the hub runs with detailed errors on for SignalR's own binding and protocol errors).
/// </summary>
internal sealed partial class SessionHubFilter(HubParticipants participants, ILogger<SessionHubFilter> logger) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        var method = invocationContext.HubMethodName;
        var connection = participants.Find(invocationContext.Context.ConnectionId);
        if (connection is not null && await participants.AdmitAsync(connection, method) is { } refused)
        {
            throw refused;
        }
        try
        {
            return await next(invocationContext);
        }
        catch (HubException)
        {
            throw;
        }
        catch (OperationCanceledException) when (invocationContext.Context.ConnectionAborted.IsCancellationRequested)
        {
            throw; // the connection is gone; nobody waits for an answer
        }
        catch (Exception ex)
        {
            Log.InvocationFailed(logger, ex, method, invocationContext.Context.ConnectionId);
            if (connection is null)
            {
                throw new HubException($"{HubErrorCodes.InternalError}: Portal could not complete {method}.");
            }
            throw await participants.FailAsync(connection, method, new Refusal(HubErrorCodes.InternalError,
                $"Portal could not complete {method}. Try again; if it keeps failing, tell the operator."));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Hub method {Method} of connection {ConnectionId} failed")]
        public static partial void InvocationFailed(ILogger logger, Exception exception, string method, string connectionId);
    }
}
