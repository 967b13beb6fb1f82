using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Portal.Testing.Fakes;

namespace Proxy.Tests;

/// <summary>
/// A widget speaking WebSocket frame by frame over a bare TCP connection, so a test can send what a browser never
/// would (unmasked frames, reserved bits, bad close codes, a frame trickled byte by byte) and see each frame that comes
/// back, pings and pongs included.
/// </summary>
internal sealed class RawWidget : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly List<byte> _pending = [];

    private RawWidget(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RawWidget> ConnectAsync(Uri webSocketUri, string origin = "https://shop.example.com")
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(webSocketUri.Host, webSocketUri.Port);
        var widget = new RawWidget(tcp);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET {webSocketUri.PathAndQuery} HTTP/1.1\r\nHost: {webSocketUri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n";
        await widget._stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var head = new StringBuilder();
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            head.Append((char)await widget.ReadByteAsync());
        }
        if (!head.ToString().StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("No upgrade: " + head);
        }
        return widget;
    }

    /// <summary>A frame as a browser would send it (masked), or with whatever first byte and masking a test wants.</summary>
    public static byte[] Frame(byte first, byte[] payload, bool mask = true)
    {
        var frame = new List<byte> { first };
        var maskBit = mask ? (byte)0x80 : (byte)0;
        if (payload.Length < 126)
        {
            frame.Add((byte)(maskBit | payload.Length));
        }
        else
        {
            frame.Add((byte)(maskBit | 126));
            frame.Add((byte)(payload.Length >> 8));
            frame.Add((byte)payload.Length);
        }
        var key = mask ? RandomNumberGenerator.GetBytes(4) : [];
        frame.AddRange(key);
        frame.AddRange(mask ? payload.Select((b, i) => (byte)(b ^ key[i % 4])) : payload);
        return [.. frame];
    }

    public static byte[] Text(string text) => Frame(0x81, Encoding.UTF8.GetBytes(text));

    public static byte[] ConfigFrame() => Frame(0x81, JsonSerializer.SerializeToUtf8Bytes(WidgetClient.Config(accessToken: "ya29.x")));

    public static byte[] Close(int code, string reason = "")
    {
        var payload = new byte[2 + Encoding.UTF8.GetByteCount(reason)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        Encoding.UTF8.GetBytes(reason, payload.AsSpan(2));
        return Frame(0x88, payload);
    }

    public async Task SendAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Sends the bytes one at a time, <paramref name="pause"/> apart.</summary>
    public async Task TrickleAsync(byte[] bytes, TimeSpan pause)
    {
        foreach (var b in bytes)
        {
            await _stream.WriteAsync(new[] { b });
            await Task.Delay(pause);
        }
    }

    /// <summary>The next frame from the proxy (server frames are never masked).</summary>
    public async Task<(bool Fin, int Opcode, byte[] Payload)> ReceiveFrameAsync(int timeoutSeconds = 10)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        var first = await ReadByteAsync(timeout.Token);
        var second = await ReadByteAsync(timeout.Token);
        if ((second & 0x80) != 0)
        {
            throw new InvalidOperationException("A server frame was masked.");
        }
        long length = second & 0x7F;
        if (length == 126)
        {
            length = (await ReadByteAsync(timeout.Token) << 8) | await ReadByteAsync(timeout.Token);
        }
        else if (length == 127)
        {
            length = 0;
            for (var i = 0; i < 8; i++)
            {
                length = (length << 8) | await ReadByteAsync(timeout.Token);
            }
        }
        var payload = new byte[length];
        for (var i = 0; i < length; i++)
        {
            payload[i] = await ReadByteAsync(timeout.Token);
        }
        return ((first & 0x80) != 0, first & 0x0F, payload);
    }

    /// <summary>Frames until the close; the close's code and reason.</summary>
    public async Task<(int Code, string Reason)> ReceiveCloseAsync(int timeoutSeconds = 10)
    {
        while (true)
        {
            var (_, opcode, payload) = await ReceiveFrameAsync(timeoutSeconds);
            if (opcode == 0x8)
            {
                return payload.Length >= 2
                    ? (BinaryPrimitives.ReadUInt16BigEndian(payload), Encoding.UTF8.GetString(payload, 2, payload.Length - 2))
                    : (1005, "");
            }
        }
    }

    private async Task<byte> ReadByteAsync(CancellationToken cancellationToken = default)
    {
        if (_pending.Count == 0)
        {
            var buffer = new byte[4096];
            var read = await _stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                throw new EndOfStreamException("The proxy closed the TCP connection.");
            }
            _pending.AddRange(buffer.AsSpan(0, read));
        }
        var b = _pending[0];
        _pending.RemoveAt(0);
        return b;
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
