using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Portal.Testing.Fakes;

/// <summary>How <see cref="MisbehavingUpstream"/> treats a connection.</summary>
public enum Misbehaviour
{
    /// <summary>Accepts the TCP connection and never answers the upgrade.</summary>
    NeverAnswers,
    /// <summary>Answers the upgrade correctly, one byte a second.</summary>
    TricklesTheHandshake,
    /// <summary>Completes the upgrade, then goes silent: no message, no pong, nothing read.</summary>
    SilentAfterUpgrade,
    /// <summary>Completes the upgrade, then sends one text message one byte a second, answering no ping.</summary>
    TricklesAMessage,
    /// <summary>Completes the upgrade, sends one whole message and the start of another, then resets the TCP connection.</summary>
    ResetsMidMessage,
}

/// <summary>
/// A WebSocket upstream that misbehaves at the TCP level, which a well-behaved server (Kestrel) cannot be made to do:
/// a raw listener on 127.0.0.1 that reads the upgrade request and then answers as <see cref="Mode"/> says.
/// </summary>
public sealed class MisbehavingUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private int _accepted;

    private MisbehavingUpstream(Misbehaviour mode)
    {
        Mode = mode;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Misbehaviour Mode { get; }
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>For <c>PS_ENDPOINT_TEMPLATE</c>: <c>ws://127.0.0.1:port/ws/{location}</c>.</summary>
    public string Template => $"ws://127.0.0.1:{Port}/ws/{{location}}";

    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>The text message <see cref="Misbehaviour.TricklesAMessage"/> and <see cref="Misbehaviour.ResetsMidMessage"/> send.</summary>
    public static string Message => """{"sessionOutput":{"text":"This answer arrives very slowly, one byte at a time.","turnIndex":1}}""";

    public static MisbehavingUpstream Start(Misbehaviour mode) => new(mode);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            lock (_connections)
            {
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        var token = _stop.Token;
        try
        {
            var key = await ReadUpgradeKeyAsync(socket, token);
#pragma warning disable CA5350 // SHA-1 is what RFC 6455 prescribes for Sec-WebSocket-Accept.
            var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
            var response = Encoding.ASCII.GetBytes(
                $"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
            switch (Mode)
            {
                case Misbehaviour.NeverAnswers:
                    await Task.Delay(Timeout.Infinite, token);
                    break;
                case Misbehaviour.TricklesTheHandshake:
                    foreach (var b in response)
                    {
                        await socket.SendAsync(new[] { b }, SocketFlags.None, token);
                        await Task.Delay(TimeSpan.FromSeconds(1), token);
                    }
                    await Task.Delay(Timeout.Infinite, token);
                    break;
                case Misbehaviour.SilentAfterUpgrade:
                    await socket.SendAsync(response, SocketFlags.None, token);
                    await Task.Delay(Timeout.Infinite, token);
                    break;
                case Misbehaviour.TricklesAMessage:
                    await socket.SendAsync(response, SocketFlags.None, token);
                    foreach (var b in TextFrame(Message))
                    {
                        await socket.SendAsync(new[] { b }, SocketFlags.None, token);
                        await Task.Delay(TimeSpan.FromSeconds(1), token);
                    }
                    await Task.Delay(Timeout.Infinite, token);
                    break;
                case Misbehaviour.ResetsMidMessage:
                    await socket.SendAsync(response, SocketFlags.None, token);
                    await socket.SendAsync(TextFrame(Message), SocketFlags.None, token);
                    var next = TextFrame(Message);
                    await socket.SendAsync(next.AsMemory(0, next.Length / 2), SocketFlags.None, token);
                    await Task.Delay(TimeSpan.FromMilliseconds(300), token);
                    socket.LingerState = new LingerOption(true, 0); // close with RST, not FIN
                    socket.Close();
                    break;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
        }
    }

    /// <summary>Reads the request head up to its blank line and returns its Sec-WebSocket-Key.</summary>
    private static async Task<string> ReadUpgradeKeyAsync(Socket socket, CancellationToken cancellationToken)
    {
        var head = new StringBuilder();
        var buffer = new byte[4096];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                throw new IOException("The client closed before its upgrade request was complete.");
            }
            head.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        var line = head.ToString().Split("\r\n").First(l => l.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase));
        return line["Sec-WebSocket-Key:".Length..].Trim();
    }

    /// <summary>An unmasked server text frame (FIN set) carrying <paramref name="text"/>.</summary>
    public static byte[] TextFrame(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        var frame = new List<byte> { 0x81 };
        if (payload.Length < 126)
        {
            frame.Add((byte)payload.Length);
        }
        else
        {
            frame.Add(126);
            frame.Add((byte)(payload.Length >> 8));
            frame.Add((byte)payload.Length);
        }
        frame.AddRange(payload);
        return [.. frame];
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }
        await Task.WhenAll(connections);
        _stop.Dispose();
    }
}
