namespace Portal.Endpoints.Sockets;

/// <summary>
/// <c>Portal:Sockets</c>: limits of the program-facing WebSocket endpoints (<c>/ws/agent</c>, <c>/ws/chat</c>); the rates and
/// origins also apply to the participant hub (<c>/hubs/session</c>).
/// </summary>
public sealed class SocketOptions
{
    public const string Section = "Portal:Sockets";

    /// <summary>Largest message a client may send; a bigger one closes the connection with 1009.</summary>
    public int MaxMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>Messages a connection may send per second on average; beyond it they are refused with an error.</summary>
    public double MessagesPerSecond { get; set; } = 20;

    /// <summary>Messages a connection may send at once before the rate applies.</summary>
    public int Burst { get; set; } = 40;

    /// <summary>Refused messages within ten seconds after which the connection is closed with 1008.</summary>
    public int FloodCloseAfter { get; set; } = 200;

    /// <summary>Older name of <c>Portal:AllowedOrigins</c>, still read and merged into it (see <c>AllowedOriginsOptions</c>).</summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>How often the server pings an idle connection; a client that does not answer within twice this is dropped.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a connection that was sent a close frame stays open for the client's own close, what it sends meanwhile
    /// read and dropped, so that it gets the close instead of a reset (<see cref="SocketLingering"/>); 0 turns this off.
    /// </summary>
    public TimeSpan CloseLinger { get; set; } = TimeSpan.FromSeconds(5);
}
