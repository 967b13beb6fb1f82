using System.Text.Json;
using SignalRHub = Microsoft.AspNetCore.SignalR.Hub;

namespace Portal.Endpoints.Hub;

/// <summary>
/// <c>/hubs/session</c>: the participant hub of seed 003 for programs and browsers. A participant (the signed-in user)
/// joins a session of kind <c>hub</c>, sends events into it, and receives every event of it, on each of their
/// connections, as <c>message</c> callbacks; anything refused comes back as an <c>error</c> callback. Each method
/// takes one JSON argument, checked by Portal so a wrong shape gets an error naming the field.
/// </summary>
internal sealed class SessionHub(HubParticipants participants) : SignalRHub
{
    public override Task OnConnectedAsync() => participants.ConnectAsync(Context);

    public override Task OnDisconnectedAsync(Exception? exception) => participants.DisconnectAsync(Context, exception);

    /// <summary><c>null</c> for a new session, a session id, or <c>{sessionId, afterSeq, title}</c>.</summary>
    public Task<JoinResult> JoinSession(JsonElement request) => participants.JoinAsync(Context, request);

    /// <summary>An event <c>{type, data, id, to}</c> for the joined session.</summary>
    public Task<SendResult> Send(JsonElement @event) => participants.SendAsync(Context, @event);

    public Task<LeaveResult> Leave() => participants.LeaveAsync(Context);
}
