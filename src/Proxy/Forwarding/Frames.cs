using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace Portal.Proxy.Forwarding;

/// <summary>The opcodes of RFC 6455 section 5.2.</summary>
internal enum Opcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>A frame's header as it came on the wire: where its payload starts and how long it is.</summary>
internal readonly record struct FrameHeader(bool Fin, Opcode Opcode, bool Masked, uint MaskKey, long PayloadLength, int HeaderLength)
{
    public bool IsControl => Opcode >= Opcode.Close;

    /// <summary>Header and payload.</summary>
    public long FrameLength => HeaderLength + PayloadLength;
}

internal enum FrameParse
{
    Complete,
    Incomplete,
    Invalid,
}

/// <summary>
/// The WebSocket frame format (RFC 6455 section 5), read and written as bytes so that the proxy can pass the peers'
/// frames on as they came: the widget's frames are masked by the browser, as the upstream requires of a client; the
/// upstream's are unmasked, as the widget requires of a server. Only the frames the proxy makes itself (the config,
/// closes, pings, <c>connection_closed</c>, a stripped message) are written here.
/// </summary>
internal static class Frames
{
    /// <summary>The longest header: 2 bytes, a 64-bit length, a mask key.</summary>
    public const int MaxHeaderLength = 14;

    public static FrameParse TryParseHeader(ReadOnlySpan<byte> data, out FrameHeader header, out string? error)
    {
        header = default;
        error = null;
        if (data.Length < 2)
        {
            return FrameParse.Incomplete;
        }
        var first = data[0];
        var second = data[1];
        var masked = (second & 0x80) != 0;
        var length7 = second & 0x7F;
        var headerLength = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + (masked ? 4 : 0);
        if (data.Length < headerLength)
        {
            return FrameParse.Incomplete;
        }
        var opcode = (Opcode)(first & 0x0F);
        var fin = (first & 0x80) != 0;
        long length = length7 switch
        {
            126 => BinaryPrimitives.ReadUInt16BigEndian(data[2..]),
            127 => (long)BinaryPrimitives.ReadUInt64BigEndian(data[2..]),
            _ => length7,
        };
        if ((first & 0x70) != 0)
        {
            error = "Reserved bits set without an extension";
        }
        else if (opcode is not (Opcode.Continuation or Opcode.Text or Opcode.Binary or Opcode.Close or Opcode.Ping or Opcode.Pong))
        {
            error = "Unknown opcode";
        }
        else if (length < 0)
        {
            error = "Invalid payload length";
        }
        else if (opcode >= Opcode.Close && (!fin || length > 125))
        {
            error = "Control frames must be whole and at most 125 bytes";
        }
        if (error is not null)
        {
            return FrameParse.Invalid;
        }
        var mask = masked ? BinaryPrimitives.ReadUInt32LittleEndian(data[(headerLength - 4)..]) : 0u;
        header = new FrameHeader(fin, opcode, masked, mask, length, headerLength);
        return FrameParse.Complete;
    }

    /// <summary>
    /// XORs <paramref name="payload"/> with the mask key, <paramref name="offset"/> bytes into the frame's payload (so a
    /// payload handled in pieces is unmasked piece by piece).
    /// </summary>
    public static void Unmask(Span<byte> payload, uint maskKey, long offset)
    {
        var key = MaskAt(maskKey, offset);
        var i = 0;
        if (payload.Length >= 8)
        {
            var wide = ((ulong)key << 32) | key;
            var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(payload);
            for (var w = 0; w < words.Length; w++)
            {
                words[w] ^= wide;
            }
            i = words.Length * 8;
        }
        for (; i < payload.Length; i++)
        {
            payload[i] ^= (byte)(key >> ((i & 3) * 8));
        }
    }

    /// <summary>The number of bytes <see cref="Write"/> needs for a payload of <paramref name="payloadLength"/> bytes.</summary>
    public static int Size(int payloadLength, bool mask) =>
        2 + (payloadLength <= 125 ? 0 : payloadLength <= ushort.MaxValue ? 2 : 8) + (mask ? 4 : 0) + payloadLength;

    /// <summary>Writes one whole frame; a client (<paramref name="mask"/>) masks it with a fresh random key.</summary>
    public static int Write(Span<byte> destination, Opcode opcode, ReadOnlySpan<byte> payload, bool mask)
    {
        uint? key = null;
        if (mask)
        {
            Span<byte> random = stackalloc byte[4];
            RandomNumberGenerator.Fill(random);
            key = BinaryPrimitives.ReadUInt32LittleEndian(random);
        }
        var position = WriteHeader(destination, opcode, fin: true, payload.Length, key);
        var written = destination.Slice(position, payload.Length);
        payload.CopyTo(written);
        if (key is { } k)
        {
            Unmask(written, k, 0);
        }
        return position + payload.Length;
    }

    /// <summary>Writes a frame header; with a <paramref name="maskKey"/>, the payload that follows must be masked with it.</summary>
    public static int WriteHeader(Span<byte> destination, Opcode opcode, bool fin, int payloadLength, uint? maskKey)
    {
        destination[0] = (byte)((fin ? 0x80 : 0) | (byte)opcode);
        var masked = maskKey is null ? (byte)0 : (byte)0x80;
        int position;
        if (payloadLength <= 125)
        {
            destination[1] = (byte)(masked | payloadLength);
            position = 2;
        }
        else if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = (byte)(masked | 126);
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
            position = 4;
        }
        else
        {
            destination[1] = (byte)(masked | 127);
            BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payloadLength);
            position = 10;
        }
        if (maskKey is { } key)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(destination[position..], key);
            position += 4;
        }
        return position;
    }

    /// <summary>
    /// The mask key that masks a frame's payload from <paramref name="offset"/> on as if that were the start: a piece of
    /// a masked payload sent as a frame of its own keeps its bytes as they are.
    /// </summary>
    public static uint MaskAt(uint maskKey, long offset) => BitOperations.RotateRight(maskKey, (int)(offset & 3) * 8);

    /// <summary>A close frame's payload: the code, then the reason in UTF-8 (none for <see cref="WebSocketCloseStatus.Empty"/>).</summary>
    public static byte[] ClosePayload(WebSocketCloseStatus status, string? reason)
    {
        if (status == WebSocketCloseStatus.Empty)
        {
            return [];
        }
        var payload = new byte[2 + Encoding.UTF8.GetByteCount(reason ?? "")];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)status);
        Encoding.UTF8.GetBytes(reason ?? "", payload.AsSpan(2));
        return payload;
    }

    /// <summary>
    /// Reads a close frame's (unmasked) payload. RFC 6455 7.4: no payload means no code (reported as
    /// <see cref="WebSocketCloseStatus.Empty"/>); a code may not be 1005, 1006, 1015 or outside the ranges in use; the
    /// reason must be UTF-8.
    /// </summary>
    public static bool TryReadClose(ReadOnlySpan<byte> payload, out WebSocketCloseStatus status, out string? reason)
    {
        status = WebSocketCloseStatus.Empty;
        reason = null;
        if (payload.Length == 0)
        {
            return true;
        }
        if (payload.Length == 1)
        {
            return false;
        }
        var code = BinaryPrimitives.ReadUInt16BigEndian(payload);
        if (code is < 1000 or 1004 or 1005 or 1006 or 1015 or (> 1015 and < 3000) or >= 5000)
        {
            return false;
        }
        try
        {
            reason = StrictUtf8.GetString(payload[2..]);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        status = (WebSocketCloseStatus)code;
        return true;
    }

    /// <summary>RFC 6455 4.2.2: the <c>Sec-WebSocket-Accept</c> that answers a <c>Sec-WebSocket-Key</c>.</summary>
    public static string AcceptKey(string key)
    {
#pragma warning disable CA5350 // SHA-1 is what RFC 6455 prescribes for Sec-WebSocket-Accept; it is no security boundary here.
        return Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
