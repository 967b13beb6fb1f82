using System.Globalization;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Portal.Proxy.Authentication;
using Portal.Proxy.Configuration;
using Portal.Proxy.Telemetry;

namespace Portal.Proxy.Forwarding;

/// <summary>
/// One proxied widget connection from its first message to its close: reads and checks the config message,
/// obtains a token, opens the upstream, sends the config on, then runs the two frame pumps and closes both legs
/// promptly and with the right codes when either side ends.
/// </summary>
internal sealed partial class ProxyConnection(
    RelaySocket client,
    ICesConnectionObserver observer,
    ProxyServices services,
    ILogger logger)
{
    private readonly CesProxyOptions _options = services.Options;
    private readonly TimeProvider _time = services.Time;
    private RelaySocket? _upstream;
    private CesCloseInfo? _closed;
    private Task? _relays;
    private long _configSentAt;
    private bool _sawUpstreamMessage;

    /// <param name="aborted">The client's request was aborted: nothing more to do for it.</param>
    /// <param name="stopping">The host is stopping: open connections are closed with 1001.</param>
    public async Task RunAsync(CancellationToken aborted, CancellationToken stopping)
    {
        services.Metrics.ConnectionOpened();
        try
        {
            var first = await ReceiveFirstMessageAsync(aborted);
            if (first is null)
            {
                return;
            }
            var config = ConfigMessage.Parse(first, out var error);
            if (config is null)
            {
                Log.BadFirstMessage(logger, error!);
                await CloseClientAsync(WebSocketCloseStatus.ProtocolError, error!, "proxy", "The first message was not a valid config message.");
                return;
            }
            var token = await GetTokenAsync(config, aborted);
            if (token is null)
            {
                return;
            }
            var upstreamUri = UpstreamEndpoint.For(_options, config.Name, config.Environment);
            var project = string.IsNullOrWhiteSpace(_options.ProjectId) ? config.Name.Project : _options.ProjectId;
            await ObserveAsync(o => o.ConfigAcceptedAsync(
                new CesConfigInfo(config.Forwarded, config.Session, upstreamUri, config.AccessToken is not null, config.Environment), aborted));

            var connecting = _time.GetTimestamp();
            var connection = await services.Connector.ConnectAsync(upstreamUri, token, project, aborted);
            if (connection.Socket is null)
            {
                Log.UpstreamRefused(logger, upstreamUri, connection.Failure);
                await CloseClientAsync(WebSocketCloseStatus.InternalServerError, connection.Failure ?? CloseFrames.UpstreamUnavailable,
                    "upstream", connection.Status is { } status ? $"The upstream refused the connection with HTTP {(int)status}." : "The upstream could not be reached.");
                return;
            }
            _upstream = connection.Socket;
            services.Metrics.UpstreamOpened();
            await ObserveAsync(o => o.UpstreamConnectedAsync(upstreamUri, _time.GetElapsedTime(connecting), aborted));

            bool sent;
            try
            {
                sent = await _upstream.SendMessageAsync(config.Forwarded, WebSocketMessageType.Text, stopping);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                sent = false;
            }
            if (!sent)
            {
                await UpstreamLostAsync(null, null, "The upstream closed before the config could be sent.");
                return;
            }
            _configSentAt = _time.GetTimestamp();
            await ForwardUntilClosedAsync(stopping);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A bug or an unexpected failure ends this connection only; the server goes on serving the others.
            Log.ConnectionFailed(logger, ex);
            client.Abort();
            _closed ??= new CesCloseInfo(null, null, null, null, "proxy", "Internal error: " + ex.Message);
        }
        finally
        {
            if (_upstream is not null)
            {
                _upstream.Abort();
                services.Metrics.UpstreamClosed();
            }
            if (_relays is not null && !_relays.IsCompleted)
            {
                client.Abort();
                await _relays;
            }
            // Whatever closed the client (a bad config, an unreachable upstream, an oversized message), a widget
            // that kept sending would otherwise lose that close to the reset of a connection closed with unread data.
            await client.DrainAsync(_options.CloseTimeout);
            _upstream?.Release();
            client.Release();
            services.Metrics.ConnectionClosed();
            var closed = _closed ?? new CesCloseInfo((int?)client.CloseStatus, client.CloseStatusDescription, null, null, "client", "The connection ended.");
            await ObserveAsync(o => o.ClosedAsync(closed, CancellationToken.None));
        }
    }

    private async Task<byte[]?> ReceiveFirstMessageAsync(CancellationToken aborted)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var receive = ReadFirstMessageAsync(stop.Token);
        var timeout = Task.Delay(_options.FirstMessageTimeout, _time, stop.Token);
        if (await Task.WhenAny(receive, timeout) == timeout && !receive.IsCompleted)
        {
            var reason = string.Create(CultureInfo.InvariantCulture, $"No config message within {_options.FirstMessageTimeout.TotalSeconds:0.#} s");
            await CloseClientAsync(WebSocketCloseStatus.ProtocolError, reason, "proxy", reason + ".");
            await WaitOrAbortAsync(receive, client);
            return null;
        }
        await stop.CancelAsync(); // the timer
        var received = await receive;
        switch (received.Kind)
        {
            case ReceivedKind.Close:
                await TryCloseAsync(client, client.CloseStatus, client.CloseStatusDescription);
                _closed = new CesCloseInfo((int?)client.CloseStatus, client.CloseStatusDescription, null, null, "client", "The client closed before sending its config.");
                return null;
            case ReceivedKind.TooBig:
                await CloseClientAsync(WebSocketCloseStatus.MessageTooBig, "Config message too big", "proxy",
                    $"The config message was over {_options.MaxFirstMessageBytes} bytes.");
                return null;
            case ReceivedKind.ProtocolError:
                await CloseClientAsync(WebSocketCloseStatus.ProtocolError, received.Error!, "proxy", "The client broke the WebSocket protocol: " + received.Error);
                return null;
            case ReceivedKind.Failed:
                client.Abort();
                _closed = new CesCloseInfo(null, null, null, null, "client", "The client vanished before sending its config.");
                return null;
            default:
                return received.Data;
        }
    }

    private async Task<ReceivedMessage> ReadFirstMessageAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await client.ReceiveMessageAsync(_options.MaxFirstMessageBytes, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return new ReceivedMessage(ReceivedKind.Failed, Error: "Cancelled");
        }
    }

    /// <summary>The client's own token, or a minted one; when none can be had, the client is told it is an authentication failure.</summary>
    private async Task<string?> GetTokenAsync(ParsedConfig config, CancellationToken aborted)
    {
        if (config.AccessToken is { } own)
        {
            return own;
        }
        try
        {
            return (await services.Tokens.GetAccessTokenAsync(aborted)).Value;
        }
        catch (AccessTokenUnavailableException ex)
        {
            Log.NoToken(logger, ex.Message);
            await TrySendAsync(client, CloseFrames.ConnectionClosed(CloseFrames.AuthenticationFailed, (int)WebSocketCloseStatus.InternalServerError));
            await CloseClientAsync(WebSocketCloseStatus.InternalServerError, CloseFrames.AuthenticationFailed, "proxy",
                "No access token could be obtained: " + ex.Message);
            return null;
        }
    }

    private async Task ForwardUntilClosedAsync(CancellationToken stopping)
    {
        var upstream = _upstream!;
        var activity = new ConnectionActivity(_time);
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        // The relays take no token: each leg must be closed with a proper close frame. They end when their source
        // closes, fails or is aborted.
        var toUpstream = new FrameRelay(client, upstream, FrameDirection.ClientToUpstream, _options.MaxMessageBytes,
            _options.RecordedPayloadBytes, null, activity, OnForwardedAsync).RunAsync(CancellationToken.None);
        var toClient = new FrameRelay(upstream, client, FrameDirection.UpstreamToClient, _options.MaxMessageBytes,
            _options.RecordedPayloadBytes, services.Stripper, activity, OnForwardedAsync).RunAsync(CancellationToken.None);
        _relays = Task.WhenAll(toUpstream, toClient);
        var watch = WatchAsync(activity, stopping, stopWatching.Token);

        var first = await Task.WhenAny(toUpstream, toClient, watch);
        if (first == watch && await watch == CloseFrames.UpstreamTooSlow)
        {
            Log.ClosingBoth(logger, CloseFrames.UpstreamTooSlow);
            // As if it had vanished: cut it, then the widget hears why.
            upstream.Abort();
            await WaitOrAbortAsync(toClient, client);
            await UpstreamLostAsync(null, CloseFrames.UpstreamTooSlow,
                $"The upstream took over {_options.MessageTimeout.TotalSeconds:0.#} s to send one message.");
        }
        else if (first == watch && await watch == CloseFrames.ClientTooSlow)
        {
            Log.ClosingBoth(logger, CloseFrames.ClientTooSlow);
            await TryCloseAsync(client, WebSocketCloseStatus.PolicyViolation, CloseFrames.ClientTooSlow);
            await TryCloseAsync(upstream, WebSocketCloseStatus.EndpointUnavailable, "Client too slow");
            _closed = new CesCloseInfo(1008, CloseFrames.ClientTooSlow, 1001, "Client too slow", "proxy",
                $"The client took over {_options.MessageTimeout.TotalSeconds:0.#} s to send one message.");
        }
        else if (first == watch && await watch is { } reason)
        {
            Log.ClosingBoth(logger, reason);
            await TryCloseAsync(client, WebSocketCloseStatus.EndpointUnavailable, reason);
            await TryCloseAsync(upstream, WebSocketCloseStatus.EndpointUnavailable, reason);
            _closed = new CesCloseInfo(1001, reason, 1001, reason, "proxy", reason == CloseFrames.IdleTimeout
                ? $"No message either way for {_options.IdleTimeout}."
                : "Portal is shutting down.");
        }
        else if (first == toUpstream)
        {
            await ClientSideEndedAsync(toUpstream.Result, toClient);
        }
        else if (first == toClient)
        {
            await UpstreamSideEndedAsync(toClient.Result);
        }
        await stopWatching.CancelAsync();

        // Both legs have been told; give them the close timeout to finish their handshakes, then cut them.
        var both = _relays;
        if (await Task.WhenAny(both, Task.Delay(_options.CloseTimeout, _time, CancellationToken.None)) != both)
        {
            client.Abort();
            upstream.Abort();
        }
        await both;
        await CompleteHandshakeAsync(upstream);
        await CompleteHandshakeAsync(client);
    }

    /// <summary>The client-to-upstream pump stopped first: the client closed, vanished, or the upstream cannot take messages.</summary>
    private async Task ClientSideEndedAsync(PumpEnd end, Task<PumpEnd> toClient)
    {
        var upstream = _upstream!;
        switch (end.Kind)
        {
            case PumpEndKind.SourceClosed:
                var status = CloseFrames.Sendable(end.Status);
                await TryCloseAsync(upstream, status, end.Reason);
                await TryCloseAsync(client, status, end.Reason);
                _closed = new CesCloseInfo((int)status, end.Reason, (int)status, end.Reason, "client", "The client closed the connection.");
                break;
            case PumpEndKind.SourceFailed:
                await TryCloseAsync(upstream, WebSocketCloseStatus.EndpointUnavailable, CloseFrames.ClientDisconnected);
                client.Abort();
                _closed = new CesCloseInfo(null, null, 1001, CloseFrames.ClientDisconnected, "client", "The client vanished without closing.");
                break;
            case PumpEndKind.ProtocolError:
                await TryCloseAsync(client, WebSocketCloseStatus.ProtocolError, end.Reason);
                await TryCloseAsync(upstream, WebSocketCloseStatus.EndpointUnavailable, "Client protocol error");
                _closed = new CesCloseInfo(1002, end.Reason, 1001, "Client protocol error", "proxy",
                    "The client broke the WebSocket protocol: " + end.Reason);
                break;
            case PumpEndKind.TooBig:
                await TryCloseAsync(client, WebSocketCloseStatus.MessageTooBig, CloseFrames.MessageTooBig);
                await TryCloseAsync(upstream, WebSocketCloseStatus.EndpointUnavailable, "Client sent an oversized message");
                _closed = new CesCloseInfo(1009, CloseFrames.MessageTooBig, 1001, "Client sent an oversized message", "proxy",
                    $"The client sent a message over {_options.MaxMessageBytes} bytes.");
                break;
            case PumpEndKind.DestinationFailed:
                // The upstream is broken; cutting it makes the other pump stop, then the client hears why.
                upstream.Abort();
                await WaitOrAbortAsync(toClient, client);
                await UpstreamLostAsync(null, null, "Sending to the upstream failed.");
                break;
            default:
                client.Abort();
                upstream.Abort();
                _closed = new CesCloseInfo(null, null, null, null, "proxy", "Portal is shutting down.");
                break;
        }
    }

    /// <summary>The upstream-to-client pump stopped first: the upstream closed or vanished, or the client cannot take messages.</summary>
    private async Task UpstreamSideEndedAsync(PumpEnd end)
    {
        var upstream = _upstream!;
        switch (end.Kind)
        {
            case PumpEndKind.SourceClosed when CloseFrames.IsNormal(end.Status):
                await TryCloseAsync(client, end.Status, end.Reason);
                await TryCloseAsync(upstream, end.Status, end.Reason);
                _closed = new CesCloseInfo((int?)end.Status, end.Reason, (int?)end.Status, end.Reason, "upstream", "The upstream closed the connection.");
                break;
            case PumpEndKind.SourceClosed:
                await TryCloseAsync(upstream, CloseFrames.Sendable(end.Status), end.Reason);
                await UpstreamLostAsync(end.Status, end.Reason, "The upstream closed the connection with an error.");
                break;
            case PumpEndKind.SourceFailed:
                upstream.Abort();
                await UpstreamLostAsync(null, null, "The upstream connection was lost.");
                break;
            case PumpEndKind.ProtocolError:
                await TryCloseAsync(upstream, WebSocketCloseStatus.ProtocolError, end.Reason);
                await UpstreamLostAsync(WebSocketCloseStatus.ProtocolError, end.Reason, "The upstream broke the WebSocket protocol: " + end.Reason);
                break;
            case PumpEndKind.TooBig:
                await TryCloseAsync(client, WebSocketCloseStatus.MessageTooBig, "Upstream message too big");
                await TryCloseAsync(upstream, WebSocketCloseStatus.MessageTooBig, CloseFrames.MessageTooBig);
                _closed = new CesCloseInfo(1009, "Upstream message too big", 1009, CloseFrames.MessageTooBig, "proxy",
                    $"The upstream sent a message over {_options.MaxMessageBytes} bytes.");
                break;
            case PumpEndKind.DestinationFailed:
                client.Abort();
                await TryCloseAsync(upstream, WebSocketCloseStatus.EndpointUnavailable, CloseFrames.ClientDisconnected);
                _closed = new CesCloseInfo(null, null, 1001, CloseFrames.ClientDisconnected, "client", "Sending to the client failed; it vanished.");
                break;
            default:
                client.Abort();
                upstream.Abort();
                _closed = new CesCloseInfo(null, null, null, null, "proxy", "Portal is shutting down.");
                break;
        }
    }

    /// <summary>As the reference: the widget gets a <c>connection_closed</c> frame saying why, then a normal close.</summary>
    private async Task UpstreamLostAsync(WebSocketCloseStatus? status, string? reason, string detail)
    {
        var code = status is { } s ? (int)s : 1006;
        var text = string.IsNullOrEmpty(reason) ? CloseFrames.UpstreamLost : reason;
        // Cut in the middle of a message to the widget, a frame would continue that message: then the close alone says why.
        if (!client.MidMessage)
        {
            await TrySendAsync(client, CloseFrames.ConnectionClosed(text, code));
        }
        var clientReason = CloseFrames.Reason(string.Create(CultureInfo.InvariantCulture, $"Upstream closed ({code}): {text}"));
        await TryCloseAsync(client, WebSocketCloseStatus.NormalClosure, clientReason);
        _closed = new CesCloseInfo(1000, clientReason, code, reason, "upstream", detail);
    }

    private async ValueTask OnForwardedAsync(FrameDirection direction, FrameKind kind, WebSocketMessageType type, ReadOnlyMemory<byte> recorded, long size)
    {
        services.Metrics.Forwarded(direction, size);
        if (direction == FrameDirection.UpstreamToClient && !_sawUpstreamMessage)
        {
            _sawUpstreamMessage = true;
            var since = _time.GetElapsedTime(_configSentAt);
            await ObserveAsync(o => o.FirstUpstreamByteAsync(since, CancellationToken.None));
        }
        try
        {
            // The hot path: no closure, and a synchronously completed observer costs no state machine.
            var observed = observer.FrameAsync(direction, kind, type, recorded, size, CancellationToken.None);
            if (!observed.IsCompletedSuccessfully)
            {
                await observed;
            }
        }
        catch (Exception ex)
        {
            Log.ObserverFailed(logger, ex);
        }
    }

    /// <summary>
    /// Completes with the reason to close both legs (idle, a message too slow, shutting down), or null once the
    /// connection ends by itself. Meanwhile it pings a leg that has been silent for the keep-alive interval and cuts
    /// one that then stays silent past the keep-alive timeout (its relay then reports it lost).
    /// </summary>
    private async Task<string?> WatchAsync(ConnectionActivity activity, CancellationToken stopping, CancellationToken done)
    {
        try
        {
            while (true)
            {
                var wait = _options.IdleTimeout > TimeSpan.Zero ? _options.IdleTimeout - activity.IdleFor : Timeout.InfiniteTimeSpan;
                if (wait != Timeout.InfiniteTimeSpan && wait <= TimeSpan.Zero)
                {
                    return CloseFrames.IdleTimeout;
                }
                if (_options.MessageTimeout > TimeSpan.Zero)
                {
                    var slowest = activity.SlowestMessage();
                    if (slowest is { } slow && slow.For >= _options.MessageTimeout)
                    {
                        return slow.Direction == FrameDirection.UpstreamToClient ? CloseFrames.UpstreamTooSlow : CloseFrames.ClientTooSlow;
                    }
                    // A message that begins while this waits is looked at within half the timeout.
                    wait = Sooner(wait, slowest is { } under ? _options.MessageTimeout - under.For : _options.MessageTimeout / 2);
                }
                wait = Sooner(wait, KeepAlive(client));
                wait = Sooner(wait, KeepAlive(_upstream!));
                await Task.Delay(wait, _time, done);
            }
        }
        catch (OperationCanceledException)
        {
            return stopping.IsCancellationRequested ? CloseFrames.ShuttingDown : null;
        }
    }

    private static TimeSpan Sooner(TimeSpan wait, TimeSpan other) =>
        other == Timeout.InfiniteTimeSpan ? wait : wait == Timeout.InfiniteTimeSpan || other < wait ? other : wait;

    /// <summary>Pings a silent leg, cuts a dead one; returns when to look at it again.</summary>
    private TimeSpan KeepAlive(RelaySocket leg)
    {
        var interval = _options.KeepAliveInterval;
        if (interval <= TimeSpan.Zero || leg.State != WebSocketState.Open)
        {
            return Timeout.InfiniteTimeSpan;
        }
        var timeout = _options.KeepAliveTimeout;
        var now = _time.GetTimestamp();
        var received = leg.LastReceived;
        var pinged = leg.PingSent;
        if (pinged != 0 && received < pinged)
        {
            // Waiting for anything at all from it, the pong or otherwise.
            if (timeout <= TimeSpan.Zero)
            {
                return interval;
            }
            var waited = _time.GetElapsedTime(pinged, now);
            if (waited < timeout)
            {
                return timeout - waited;
            }
            Log.KeepAliveTimedOut(logger, leg.IsServer ? "client" : "upstream", timeout);
            leg.Abort();
            return Timeout.InfiniteTimeSpan;
        }
        var silent = _time.GetElapsedTime(received, now);
        if (silent < interval)
        {
            return interval - silent;
        }
        _ = leg.PingAsync(CancellationToken.None);
        return timeout > TimeSpan.Zero ? timeout : interval;
    }

    private async Task CloseClientAsync(WebSocketCloseStatus status, string reason, string initiator, string detail)
    {
        await TryCloseAsync(client, status, reason);
        _closed = new CesCloseInfo((int)status, reason, null, null, initiator, detail);
    }

    private async Task WaitOrAbortAsync(Task pending, RelaySocket socket)
    {
        if (await Task.WhenAny(pending, Task.Delay(_options.CloseTimeout, _time, CancellationToken.None)) != pending)
        {
            socket.Abort();
        }
        await pending;
    }

    /// <summary>A side that sent its close and still waits for ours gets its code echoed.</summary>
    private Task CompleteHandshakeAsync(RelaySocket socket) =>
        socket.State == WebSocketState.CloseReceived ? TryCloseAsync(socket, socket.CloseStatus, socket.CloseStatusDescription) : Task.CompletedTask;

    /// <summary>Sends a close frame if the socket can still send one; a socket that cannot is left as it is.</summary>
    private async Task TryCloseAsync(RelaySocket socket, WebSocketCloseStatus? status, string? reason)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }
        var code = CloseFrames.Sendable(status);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.CloseOutputAsync(code, code == WebSocketCloseStatus.Empty ? null : CloseFrames.Reason(reason), timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or ObjectDisposedException)
        {
            Log.CloseFailed(logger, ex);
            socket.Abort();
        }
    }

    private async Task TrySendAsync(RelaySocket socket, byte[] message)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.SendMessageAsync(message, WebSocketMessageType.Text, timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or ObjectDisposedException)
        {
            Log.CloseFailed(logger, ex);
            socket.Abort();
        }
    }

    private async ValueTask ObserveAsync(Func<ICesConnectionObserver, ValueTask> call)
    {
        try
        {
            await call(observer);
        }
        catch (Exception ex)
        {
            // Recording must never break forwarding; the failure is logged instead.
            Log.ObserverFailed(logger, ex);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Refused a first message: {Reason}")]
        public static partial void BadFirstMessage(ILogger logger, string reason);

        [LoggerMessage(2, LogLevel.Warning, "Upstream {Upstream} refused or unreachable: {Failure}")]
        public static partial void UpstreamRefused(ILogger logger, Uri upstream, string? failure);

        [LoggerMessage(3, LogLevel.Warning, "No access token for a connection without its own: {Reason}")]
        public static partial void NoToken(ILogger logger, string reason);

        [LoggerMessage(4, LogLevel.Information, "Closing both legs of a connection: {Reason}")]
        public static partial void ClosingBoth(ILogger logger, string reason);

        [LoggerMessage(5, LogLevel.Error, "A proxied connection failed unexpectedly")]
        public static partial void ConnectionFailed(ILogger logger, Exception exception);

        [LoggerMessage(6, LogLevel.Error, "The proxy's observer failed; forwarding goes on")]
        public static partial void ObserverFailed(ILogger logger, Exception exception);

        [LoggerMessage(7, LogLevel.Debug, "A closing frame could not be sent; the leg was aborted")]
        public static partial void CloseFailed(ILogger logger, Exception exception);

        [LoggerMessage(8, LogLevel.Information, "The {Leg} answered no keep-alive ping within {Timeout}; cut it")]
        public static partial void KeepAliveTimedOut(ILogger logger, string leg, TimeSpan timeout);
    }
}
