using System.Net.WebSockets;

namespace Portal.Proxy.Telemetry;

/// <summary>Which way a frame went.</summary>
public enum FrameDirection
{
    /// <summary>From the widget to the CES upstream.</summary>
    ClientToUpstream,

    /// <summary>From the CES upstream to the widget.</summary>
    UpstreamToClient,
}

/// <summary>What a frame carried, as far as recording is concerned.</summary>
public enum FrameKind
{
    /// <summary>A text frame that is not audio.</summary>
    Text,

    /// <summary>A frame carrying audio (JSON with an <c>audio</c> field, in either frame type).</summary>
    Audio,

    /// <summary>Any other binary frame.</summary>
    Binary,
}

/// <summary>A new proxied connection, before its first message.</summary>
/// <param name="ConnectionId">Unique per connection.</param>
/// <param name="Origin">The Origin header, when sent.</param>
/// <param name="RemoteAddress">The client's address as Kestrel saw it.</param>
/// <param name="Path">The request path the widget connected to.</param>
public sealed record CesConnectionInfo(string ConnectionId, string? Origin, string? RemoteAddress, string Path);

/// <summary>The config message once accepted.</summary>
/// <param name="Forwarded">The message as sent upstream (no accessToken, no environment), UTF-8 JSON.</param>
/// <param name="Session">The CES session name.</param>
/// <param name="Upstream">Where the connection goes.</param>
/// <param name="ClientToken">Whether the client brought its own access token.</param>
/// <param name="Environment">The config's environment, when given.</param>
public sealed record CesConfigInfo(ReadOnlyMemory<byte> Forwarded, string Session, Uri Upstream, bool ClientToken, string? Environment);

/// <summary>How a proxied connection ended.</summary>
/// <param name="ClientCloseStatus">Close code sent to (or received from) the client; null when it vanished.</param>
/// <param name="ClientCloseReason">Its reason text.</param>
/// <param name="UpstreamCloseStatus">Close code of the upstream leg; null when there was none.</param>
/// <param name="UpstreamCloseReason">Its reason text.</param>
/// <param name="Initiator">Who ended it: client, upstream, proxy.</param>
/// <param name="Detail">Why, in words.</param>
public sealed record CesCloseInfo(
    int? ClientCloseStatus,
    string? ClientCloseReason,
    int? UpstreamCloseStatus,
    string? UpstreamCloseReason,
    string Initiator,
    string Detail);

/// <summary>One text-mode request and its answer.</summary>
/// <param name="Method">GET or POST.</param>
/// <param name="Path">The CES API path after <c>/v1/</c>, e.g. <c>projects/P/locations/L/apps/A/sessions/S:runSession</c>.</param>
/// <param name="Origin">The Origin header, when sent.</param>
/// <param name="RequestBody">The request body (POST).</param>
/// <param name="Status">The HTTP status returned to the widget (502 or 504 when the CES API could not be reached).</param>
/// <param name="ResponseBody">The CES API's answer, when there was one.</param>
/// <param name="Duration">Time from sending the request to having the whole answer.</param>
public sealed record CesTextExchange(string Method, string Path, string? Origin, byte[]? RequestBody, int Status, byte[]? ResponseBody, TimeSpan Duration);

/// <summary>
/// The hook through which a host records what the proxy does. Frames are reported after they were forwarded;
/// the two directions of a connection report concurrently. The memory handed to a call is valid during the call only.
/// </summary>
public interface ICesProxyObserver
{
    /// <summary>A connection was accepted (origin allowed, WebSocket upgraded). Throwing refuses the connection (1011).</summary>
    ValueTask<ICesConnectionObserver> ConnectionOpenedAsync(CesConnectionInfo connection, CancellationToken cancellationToken);

    /// <summary>A text-mode request was answered.</summary>
    ValueTask TextExchangeAsync(CesTextExchange exchange, CancellationToken cancellationToken);
}

/// <summary>Receives the events of one proxied connection.</summary>
public interface ICesConnectionObserver
{
    /// <summary>The first message was valid and is about to be sent upstream.</summary>
    ValueTask ConfigAcceptedAsync(CesConfigInfo config, CancellationToken cancellationToken);

    /// <summary>The upstream leg is open.</summary>
    ValueTask UpstreamConnectedAsync(Uri upstream, TimeSpan connectTime, CancellationToken cancellationToken);

    /// <summary>The first byte of the upstream's first message arrived.</summary>
    ValueTask FirstUpstreamByteAsync(TimeSpan sinceConfigSent, CancellationToken cancellationToken);

    /// <summary>A message was forwarded. <paramref name="recorded"/> holds its first bytes (text frames only).</summary>
    ValueTask FrameAsync(FrameDirection direction, FrameKind kind, WebSocketMessageType type, ReadOnlyMemory<byte> recorded, long size, CancellationToken cancellationToken);

    /// <summary>The connection is over; called exactly once, also when it never got past the first message.</summary>
    ValueTask ClosedAsync(CesCloseInfo close, CancellationToken cancellationToken);
}

internal sealed class NullCesProxyObserver : ICesProxyObserver, ICesConnectionObserver
{
    public ValueTask<ICesConnectionObserver> ConnectionOpenedAsync(CesConnectionInfo connection, CancellationToken cancellationToken) => new(this);
    public ValueTask TextExchangeAsync(CesTextExchange exchange, CancellationToken cancellationToken) => default;
    public ValueTask ConfigAcceptedAsync(CesConfigInfo config, CancellationToken cancellationToken) => default;
    public ValueTask UpstreamConnectedAsync(Uri upstream, TimeSpan connectTime, CancellationToken cancellationToken) => default;
    public ValueTask FirstUpstreamByteAsync(TimeSpan sinceConfigSent, CancellationToken cancellationToken) => default;
    public ValueTask FrameAsync(FrameDirection direction, FrameKind kind, WebSocketMessageType type, ReadOnlyMemory<byte> recorded, long size, CancellationToken cancellationToken) => default;
    public ValueTask ClosedAsync(CesCloseInfo close, CancellationToken cancellationToken) => default;
}
