using Microsoft.AspNetCore.SignalR;

namespace Portal.Endpoints.Hub;

/// <summary>
/// SignalR's default lifetime manager for <see cref="SessionHub"/>, which also puts an <see cref="UnboundCallReporter"/>
/// in front of each connection's protocol. Calls that cannot be bound never reach a hub filter, and the dispatcher that
/// answers them is created inside <see cref="HubConnectionHandler{THub}"/>, not taken from the container, so it cannot
/// be wrapped; the connection's protocol can (<see cref="HubConnectionContext.Protocol"/> is settable), and this is the
/// one per-hub hook that sees the connection after its handshake and before its first message is read.
/// </summary>
internal sealed class SessionHubLifetimeManager(
    ILogger<DefaultHubLifetimeManager<SessionHub>> logger, IServiceProvider services, ILogger<UnboundCallReporter> reporterLogger)
    : DefaultHubLifetimeManager<SessionHub>(logger)
{
    // Resolved on first use: HubParticipants sends through the hub context, which needs this lifetime manager.
    private HubParticipants? _participants;

    public override Task OnConnectedAsync(HubConnectionContext connection)
    {
        _participants ??= services.GetRequiredService<HubParticipants>();
        connection.Protocol = new UnboundCallReporter(connection.Protocol, connection, _participants, reporterLogger);
        return base.OnConnectedAsync(connection);
    }
}
