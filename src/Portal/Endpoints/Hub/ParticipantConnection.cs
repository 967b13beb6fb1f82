using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.SignalR;
using Portal.Endpoints.Sockets;

namespace Portal.Endpoints.Hub;

/// <summary>
/// One open hub connection of a participant: who it is, the session it has joined, and the task that delivers that
/// session's events to it. <see cref="Gate"/> orders what changes the connection (join, send, leave, disconnect).
/// </summary>
internal sealed class ParticipantConnection(HubCallerContext context, string userId, IPAddress? address, FloodGuard flood, SocketConnections.Lease lease) : IDisposable
{
    private CancellationTokenSource? _delivery;
    private Task _deliveryTask = Task.CompletedTask;

    public HubCallerContext Context => context;
    public string ConnectionId => context.ConnectionId;
    public ClaimsPrincipal User => context.User ?? new ClaimsPrincipal();
    public string UserId => userId;
    public string? Name => context.User?.Identity?.Name;

    /// <summary>The client's address, for the per-address limits.</summary>
    public IPAddress? Address => address;
    public FloodGuard Flood => flood;

    /// <summary>
    /// Takes one call from the connection's rate. False when it is refused, with <paramref name="refused"/> the
    /// refusals of the last ten seconds and <paramref name="flooding"/> once they reach the flood limit (then close).
    /// </summary>
    public bool TryAdmit(out bool flooding, out int refused)
    {
        lock (flood)
        {
            var admitted = flood.TryTake();
            (flooding, refused) = admitted ? (false, 0) : (flood.Flooding, flood.RecentlyRefused);
            return admitted;
        }
    }

    /// <summary>Held while the connection's state changes; invocations of one connection never interleave their appends.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>The joined session, or null.</summary>
    public string? SessionId { get; set; }

    /// <summary>Set under <see cref="Gate"/> when the connection has gone; an invocation still waiting for the gate then does nothing.</summary>
    public bool Closed { get; set; }

    /// <summary>When the last <c>rate_limited</c> error was sent (timestamp), so a flood gets one a second.</summary>
    public long LastRateError { get; set; }

    /// <summary>Starts delivering with <paramref name="deliver"/>, which runs until its token is cancelled.</summary>
    public void StartDelivery(Func<CancellationToken, Task> deliver)
    {
        _delivery = new CancellationTokenSource();
        _deliveryTask = deliver(_delivery.Token);
    }

    /// <summary>Stops delivery and waits until nothing more is sent for the previous session.</summary>
    public async Task StopDeliveryAsync()
    {
        if (_delivery is null)
        {
            return;
        }
        await _delivery.CancelAsync();
        await _deliveryTask;
        _delivery.Dispose();
        _delivery = null;
    }

    /// <summary>
    /// The gate is not disposed: an invocation that started before the connection closed may still be waiting for it,
    /// and sees <see cref="Closed"/> once it gets it.
    /// </summary>
    public void Dispose()
    {
        _delivery?.Dispose();
        lease.Dispose();
    }
}
