using System.ComponentModel.DataAnnotations;

namespace Portal.Security.Limits;

/// <summary>
/// <c>Portal:Limits</c>: what one person (signed in, by user id) and one address (by client IP, after trusted forwarded
/// headers) may use at once. A value of 0 turns that limit off. Sizes of frames and messages are set per endpoint
/// (<c>Portal:Sockets:MaxMessageBytes</c>, <c>CesProxy:MaxMessageBytes</c>, <c>Portal:Hub</c>) and the stored event
/// payload by <c>Portal:Sessions:MaxStoredPayloadBytes</c>.
/// </summary>
public sealed class LimitsOptions
{
    public const string Section = "Portal:Limits";

    /// <summary>False turns every limit below off at once (load tests and benchmarks drive Portal from one user and one address).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Open WebSocket connections one user may have on each endpoint (<c>/ws/agent</c>, <c>/ws/chat</c>, <c>/hubs/session</c>).</summary>
    [Range(0, 100_000)]
    public int ConnectionsPerUser { get; set; } = 20;

    /// <summary>Open WebSocket connections one IP address may have on each endpoint, <c>/ces</c> included.</summary>
    [Range(0, 1_000_000)]
    public int ConnectionsPerIp { get; set; } = 500;

    /// <summary>New sessions one user may start per hour (agent and chat sockets, the chat page, the hub).</summary>
    [Range(0, 1_000_000)]
    public int SessionsPerHourPerUser { get; set; } = 500;

    /// <summary>New sessions one IP address may start per hour, widget connections through <c>/ces</c> included.</summary>
    [Range(0, 10_000_000)]
    public int SessionsPerHourPerIp { get; set; } = 5_000;

    /// <summary>Messages one user may send per second over all their socket connections together (each connection also has <c>Portal:Sockets:MessagesPerSecond</c>).</summary>
    [Range(0, 1_000_000)]
    public double MessagesPerSecondPerUser { get; set; } = 50;

    /// <summary>Requests to <c>/api/*</c> one user (or, signed out, one IP address) may make per minute.</summary>
    [Range(0, 10_000_000)]
    public int ApiRequestsPerMinute { get; set; } = 600;
}
