using System.Buffers.Binary;
using Portal.Endpoints.Sockets;

namespace Portal.Tests.Endpoints.Sockets;

public sealed class FrameTrackerTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Observe_FramesOfEveryLengthClassInChunksOfAnySize_SeesTheCloseOnlyOnceItsPayloadHasPassed(bool masked)
    {
        byte[] stream = [.. Frame(0x1, 5, masked), .. Frame(0x2, 300, masked), .. Frame(0x9, 0, masked), .. Frame(0x1, 70_000, masked), .. Frame(0x8, 12, masked)];
        foreach (var chunk in (int[])[1, 2, 3, 7, 14, 100, 4096, stream.Length])
        {
            var tracker = new FrameTracker(masked);
            for (var at = 0; at < stream.Length; at += chunk)
            {
                Assert.False(tracker.CloseSeen, $"close seen at byte {at} in chunks of {chunk}");
                tracker.Observe(stream.AsSpan(at, Math.Min(chunk, stream.Length - at)));
            }
            Assert.True(tracker.CloseSeen, $"close not seen in chunks of {chunk}");
        }
    }

    [Fact]
    public void Observe_CloseWithoutPayload_IsSeenAtItsHeader()
    {
        var tracker = new FrameTracker(masked: false);

        tracker.Observe(Frame(0x8, 0, masked: false));

        Assert.True(tracker.CloseSeen);
    }

    [Fact]
    public void Observe_CloseOpcodeInsideAPayload_IsNotAClose()
    {
        var tracker = new FrameTracker(masked: true);
        var payload = Frame(0x1, 40, masked: true);
        payload[^20] = 0x88; // a close frame's first byte, as data

        tracker.Observe(payload);

        Assert.False(tracker.CloseSeen);
    }

    /// <summary>A final frame with <paramref name="length"/> payload bytes of 0x88, the header in its shortest form.</summary>
    private static byte[] Frame(int opcode, int length, bool masked)
    {
        var header = new List<byte> { (byte)(0x80 | opcode) };
        var mask = masked ? 0x80 : 0;
        if (length < 126)
        {
            header.Add((byte)(mask | length));
        }
        else if (length <= ushort.MaxValue)
        {
            header.Add((byte)(mask | 126));
            header.AddRange([(byte)(length >> 8), (byte)length]);
        }
        else
        {
            header.Add((byte)(mask | 127));
            var extended = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(extended, (ulong)length);
            header.AddRange(extended);
        }
        if (masked)
        {
            header.AddRange([1, 2, 3, 4]);
        }
        return [.. header, .. Enumerable.Repeat((byte)0x88, length)];
    }
}
