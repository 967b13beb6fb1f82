using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using Portal.Proxy.Forwarding;

namespace Proxy.Tests.Forwarding;

/// <summary>The frame format the relay reads and writes (RFC 6455 section 5), byte for byte.</summary>
public sealed class FramesTests
{
    [Theory]
    [InlineData(0, 2)]
    [InlineData(125, 2)]
    [InlineData(126, 4)]
    [InlineData(65_535, 4)]
    [InlineData(65_536, 10)]
    public void WrittenFrame_ParsesBackWithItsLengthAndHeader(int length, int headerLength)
    {
        var payload = new byte[length];
        Random.Shared.NextBytes(payload);
        var frame = new byte[Frames.Size(length, mask: true)];

        var written = Frames.Write(frame, Opcode.Binary, payload, mask: true);

        Assert.Equal(frame.Length, written);
        Assert.Equal(FrameParse.Complete, Frames.TryParseHeader(frame, out var header, out var error));
        Assert.Null(error);
        Assert.Equal((true, Opcode.Binary, true, (long)length, headerLength + 4), (header.Fin, header.Opcode, header.Masked, header.PayloadLength, header.HeaderLength));
        var unmasked = frame.AsSpan(header.HeaderLength).ToArray();
        Frames.Unmask(unmasked, header.MaskKey, 0);
        Assert.Equal(payload, unmasked);
    }

    [Fact]
    public void HeaderCutShort_IsIncomplete()
    {
        var frame = new byte[Frames.Size(300, mask: true)];
        Frames.Write(frame, Opcode.Text, new byte[300], mask: true);

        for (var cut = 0; cut < 8; cut++)
        {
            Assert.Equal(FrameParse.Incomplete, Frames.TryParseHeader(frame.AsSpan(0, cut), out _, out _));
        }
        Assert.Equal(FrameParse.Complete, Frames.TryParseHeader(frame.AsSpan(0, 8), out _, out _));
    }

    [Theory]
    [InlineData(new byte[] { 0xC1, 0x00 }, "Reserved bits set without an extension")]
    [InlineData(new byte[] { 0x83, 0x00 }, "Unknown opcode")]
    [InlineData(new byte[] { 0x8B, 0x00 }, "Unknown opcode")]
    [InlineData(new byte[] { 0x09, 0x00 }, "Control frames must be whole and at most 125 bytes")]
    [InlineData(new byte[] { 0x89, 0x7E, 0x00, 0x7E }, "Control frames must be whole and at most 125 bytes")]
    [InlineData(new byte[] { 0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0 }, "Invalid payload length")]
    public void BrokenHeaders_AreInvalidWithTheReason(byte[] frame, string reason)
    {
        Assert.Equal(FrameParse.Invalid, Frames.TryParseHeader(frame, out _, out var error));
        Assert.Equal(reason, error);
    }

    [Fact]
    public void MaskedPayload_UnmaskedInPiecesAtAnyOffset_EqualsUnmaskedWhole()
    {
        var payload = Encoding.UTF8.GetBytes(new string('x', 37) + "{\"realtimeInput\":{\"text\":\"hi\"}}");
        var frame = new byte[Frames.Size(payload.Length, mask: true)];
        Frames.Write(frame, Opcode.Text, payload, mask: true);
        Frames.TryParseHeader(frame, out var header, out _);
        var masked = frame.AsSpan(header.HeaderLength).ToArray();

        foreach (var split in new[] { 1, 3, 5, 8, 13, 33 })
        {
            var pieces = masked.ToArray();
            Frames.Unmask(pieces.AsSpan(0, split), header.MaskKey, 0);
            Frames.Unmask(pieces.AsSpan(split), header.MaskKey, split);
            Assert.Equal(payload, pieces);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(10)]
    public void PieceOfAMaskedFrame_WithTheKeyTurnedToItsOffset_UnmasksAsItIs(int offset)
    {
        // What the relay does with a frame still arriving: the masked bytes go on as they are, under a new header.
        var payload = Encoding.UTF8.GetBytes("a piece of a frame that was still arriving");
        var frame = new byte[Frames.Size(payload.Length, mask: true)];
        Frames.Write(frame, Opcode.Text, payload, mask: true);
        Frames.TryParseHeader(frame, out var header, out _);
        var piece = frame.AsSpan(header.HeaderLength + offset).ToArray();

        var headerBytes = new byte[Frames.MaxHeaderLength];
        var length = Frames.WriteHeader(headerBytes, Opcode.Continuation, fin: true, piece.Length, Frames.MaskAt(header.MaskKey, offset));
        Frames.TryParseHeader([.. headerBytes.AsSpan(0, length), .. piece], out var pieceHeader, out _);
        Frames.Unmask(piece, pieceHeader.MaskKey, 0);

        Assert.Equal(payload[offset..], piece);
    }

    [Theory]
    [InlineData(1000, "bye", true)]
    [InlineData(4000, "app", true)]
    [InlineData(999, "", false)]
    [InlineData(1005, "", false)]
    [InlineData(1006, "", false)]
    [InlineData(2000, "", false)]
    [InlineData(5000, "", false)]
    public void ClosePayload_CodesOutsideTheRangesInUse_AreRefused(int code, string reason, bool valid)
    {
        var payload = new byte[2 + Encoding.UTF8.GetByteCount(reason)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        Encoding.UTF8.GetBytes(reason, payload.AsSpan(2));

        Assert.Equal(valid, Frames.TryReadClose(payload, out var status, out var read));
        if (valid)
        {
            Assert.Equal(((WebSocketCloseStatus)code, reason), (status, read));
        }
    }

    [Fact]
    public void ClosePayload_EmptyMeansNoCode_OneByteOrBadUtf8IsRefused()
    {
        Assert.True(Frames.TryReadClose([], out var status, out _));
        Assert.Equal(WebSocketCloseStatus.Empty, status);
        Assert.False(Frames.TryReadClose([0x03], out _, out _));
        Assert.False(Frames.TryReadClose([0x03, 0xE8, 0xC3, 0x28], out _, out _));
    }

    [Fact]
    public void AcceptKey_IsTheRfcExample()
    {
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", Frames.AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="));
    }
}
