using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Portal.Proxy.Configuration;

namespace Portal.Proxy.Forwarding;

/// <summary>The result of connecting to the upstream: an open socket, or why there is none.</summary>
internal readonly record struct UpstreamConnection(RelaySocket? Socket, string? Failure, HttpStatusCode? Status);

/// <summary>
/// Opens the upstream WebSocket with the headers CES expects (<c>Authorization: Bearer</c>, <c>Content-Type:
/// application/json</c>, <c>X-Goog-User-Project</c>): a TCP connection, TLS for <c>wss</c>, the HTTP/1.1 upgrade
/// written and checked here, then a <see cref="RelaySocket"/> over the stream.
/// Doing the handshake itself (rather than through ClientWebSocket and SocketsHttpHandler) keeps an idle upstream
/// leg at a few KiB, sends Content-Type on the body-less upgrade as the reference does, and reports the refusing
/// status and the start of its body.
/// </summary>
internal sealed class UpstreamConnector(IOptions<CesProxyOptions> options, TimeProvider time)
{
    private const int MaxResponseHead = 16 * 1024;
    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();

    public async Task<UpstreamConnection> ConnectAsync(Uri upstream, string token, string? project, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.UpstreamConnectTimeout);
        Stream? stream = null;
        try
        {
            var secure = upstream.Scheme == "wss";
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new DnsEndPoint(upstream.IdnHost, upstream.Port), timeout.Token);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            stream = new NetworkStream(socket, ownsSocket: true);
            if (secure)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = upstream.IdnHost,
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                }, timeout.Token);
            }

            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            await stream.WriteAsync(UpgradeRequest(upstream, key, token, project), timeout.Token);
            await stream.FlushAsync(timeout.Token);

            var (status, head, leftover) = await ReadResponseHeadAsync(stream, timeout.Token);
            if (status != HttpStatusCode.SwitchingProtocols || !AcceptsUpgrade(head, key))
            {
                await stream.DisposeAsync();
                return new UpstreamConnection(null, $"{CloseFrames.UpstreamUnavailable} (HTTP {(int)status})", status);
            }
            var opened = stream;
            var webSocket = new RelaySocket(stream, isServer: false, leftover, () => opened.Dispose(), time);
            return new UpstreamConnection(webSocket, null, null);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or AuthenticationException or InvalidDataException)
        {
            if (stream is not null)
            {
                await stream.DisposeAsync();
            }
            return new UpstreamConnection(null, cancellationToken.IsCancellationRequested ? "Cancelled" : CloseFrames.UpstreamUnavailable, null);
        }
    }

    private static byte[] UpgradeRequest(Uri upstream, string key, string token, string? project)
    {
        var request = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"GET {upstream.PathAndQuery} HTTP/1.1\r\n")
            .Append(CultureInfo.InvariantCulture, $"Host: {upstream.Authority}\r\n")
            .Append("Upgrade: websocket\r\nConnection: Upgrade\r\n")
            .Append(CultureInfo.InvariantCulture, $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
            .Append(CultureInfo.InvariantCulture, $"Authorization: Bearer {token}\r\n")
            .Append("Content-Type: application/json\r\n");
        if (!string.IsNullOrEmpty(project))
        {
            request.Append(CultureInfo.InvariantCulture, $"X-Goog-User-Project: {project}\r\n");
        }
        return Encoding.ASCII.GetBytes(request.Append("User-Agent: Portal-CES-Proxy\r\n\r\n").ToString());
    }

    /// <summary>Reads up to the blank line; returns the status, the header block, and any bytes that came after it.</summary>
    private static async Task<(HttpStatusCode Status, string Head, byte[] Leftover)> ReadResponseHeadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxResponseHead);
        try
        {
            var length = 0;
            int end;
            while ((end = buffer.AsSpan(0, length).IndexOf(HeadEnd)) < 0)
            {
                if (length == MaxResponseHead)
                {
                    throw new InvalidDataException("The upstream's response head is too long.");
                }
                var read = await stream.ReadAsync(buffer.AsMemory(length, MaxResponseHead - length), cancellationToken);
                if (read == 0)
                {
                    throw new IOException("The upstream closed the connection during the handshake.");
                }
                length += read;
            }
            var head = Encoding.ASCII.GetString(buffer, 0, end);
            var statusLine = head.AsSpan(0, Math.Max(0, head.IndexOf('\r', StringComparison.Ordinal) is var cr and >= 0 ? cr : head.Length));
            var parts = statusLine.ToString().Split(' ', 3);
            if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out var status))
            {
                throw new InvalidDataException("The upstream's response is not HTTP/1.1.");
            }
            return ((HttpStatusCode)status, head, buffer.AsSpan(end + HeadEnd.Length, length - end - HeadEnd.Length).ToArray());
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>RFC 6455 4.1: the upgrade is real only with the right Upgrade, Connection and Sec-WebSocket-Accept.</summary>
    private static bool AcceptsUpgrade(string head, string key)
    {
        var expected = Frames.AcceptKey(key);
        string? upgrade = null, connection = null, accept = null;
        foreach (var line in head.Split("\r\n").Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var value = line[(colon + 1)..].Trim();
            switch (line[..colon].Trim().ToLowerInvariant())
            {
                case "upgrade":
                    upgrade = value;
                    break;
                case "connection":
                    connection = value;
                    break;
                case "sec-websocket-accept":
                    accept = value;
                    break;
            }
        }
        return string.Equals(upgrade, "websocket", StringComparison.OrdinalIgnoreCase)
            && connection is not null && connection.Split(',').Any(t => t.Trim().Equals("upgrade", StringComparison.OrdinalIgnoreCase))
            && accept == expected;
    }
}
