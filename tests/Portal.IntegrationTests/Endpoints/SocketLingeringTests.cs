using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Portal.Testing;

namespace Portal.IntegrationTests.Endpoints;

/// <summary>
/// How a connection ends at the TCP level, seen from a raw socket: a text message that is not UTF-8, followed by frames
/// still in flight, must get its 1007 close frame and then a FIN, not a reset (<c>SocketLingering</c>). Before it, .NET's
/// WebSocket aborted itself after sending 1007, ASP.NET Core aborted the request with it, and Kestrel dropped the close
/// frame and reset the connection.
/// </summary>
public sealed class SocketLingeringTests
{
    private const string User = "linger@portal.test";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Endpoints => ["/ws/agent", "/ws/chat", "/hubs/session"];

    [Theory(Timeout = 60_000)]
    [MemberData(nameof(Endpoints))]
    public async Task InvalidUtf8WithFramesInFlight_ClientGets1007ThenAnOrderlyEnd(string path)
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync(User);
        using var client = await RawWebSocket.ConnectAsync(server, path, await AgentSocketClient.SignInAsync(server, User));

        await client.SendTextAsync([.. "{\"type\":\"cancel\",\"x\":\""u8, 0xC0, 0xAF, .. "\"}"u8]);
        for (var i = 0; i < 50; i++)
        {
            await client.SendTextAsync("{\"type\":\"cancel\"}"u8.ToArray()); // in flight when the server gives up on the connection
        }
        var close = await client.ReadUntilCloseAsync();
        await Task.Delay(200, Ct); // long enough for a server that does not wait to have closed already
        await client.SendCloseAsync(1000);
        var end = await client.ReadEndAsync();

        Assert.Equal(1007, close);
        Assert.Equal("end of stream", end);
    }

    [Fact(Timeout = 60_000)]
    public async Task InvalidUtf8_ClientNeverAnswersTheClose_ConnectionEndsOnceTheLingerHasPassed()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:Sockets:CloseLinger"] = "00:00:01" });
        await server.CreateUserAsync(User);
        using var client = await RawWebSocket.ConnectAsync(server, "/ws/agent", await AgentSocketClient.SignInAsync(server, User));

        await client.SendTextAsync([0x7B, 0xFF, 0x7D]);
        var close = await client.ReadUntilCloseAsync();
        var waited = Stopwatch.StartNew();
        var end = await client.ReadEndAsync();

        Assert.Equal(1007, close);
        Assert.Equal("end of stream", end);
        Assert.InRange(waited.Elapsed, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(10));
    }

    /// <summary>A WebSocket client on a bare TCP socket, so that a reset and a FIN can be told apart.</summary>
    private sealed class RawWebSocket(TcpClient tcp) : IDisposable
    {
        private readonly NetworkStream _stream = tcp.GetStream();

        public static async Task<RawWebSocket> ConnectAsync(PortalTestServer server, string path, System.Net.CookieContainer cookies)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port, Ct);
            var client = new RawWebSocket(tcp);
            var request = $"GET {path} HTTP/1.1\r\nHost: {server.BaseAddress.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                $"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: {cookies.GetCookieHeader(server.BaseAddress)}\r\n\r\n";
            await client._stream.WriteAsync(Encoding.ASCII.GetBytes(request), Ct);
            var response = new StringBuilder();
            var one = new byte[1];
            while (!response.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                await client._stream.ReadExactlyAsync(one, Ct);
                response.Append((char)one[0]);
            }
            Assert.StartsWith("HTTP/1.1 101", response.ToString(), StringComparison.Ordinal);
            if (path.StartsWith("/hubs", StringComparison.Ordinal))
            {
                await client.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e"u8.ToArray());
            }
            return client;
        }

        public Task SendTextAsync(byte[] payload) => SendAsync(0x1, payload);

        public Task SendCloseAsync(ushort code)
        {
            var payload = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(payload, code);
            return SendAsync(0x8, payload);
        }

        /// <summary>A final, masked frame (the mask is zero, which leaves the payload as it is).</summary>
        private async Task SendAsync(byte opcode, byte[] payload)
        {
            var header = new List<byte> { (byte)(0x80 | opcode) };
            if (payload.Length < 126)
            {
                header.Add((byte)(0x80 | payload.Length));
            }
            else
            {
                header.Add(0x80 | 126);
                header.Add((byte)(payload.Length >> 8));
                header.Add((byte)payload.Length);
            }
            header.AddRange([0, 0, 0, 0]);
            byte[] frame = [.. header, .. payload];
            await _stream.WriteAsync(frame, Ct);
        }

        /// <summary>Reads the server's frames until its close; returns the close code.</summary>
        public async Task<int> ReadUntilCloseAsync()
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(20));
            var header = new byte[2];
            while (true)
            {
                await _stream.ReadExactlyAsync(header, timeout.Token);
                long length = header[1] & 0x7F;
                if (length >= 126)
                {
                    var extended = new byte[length == 126 ? 2 : 8];
                    await _stream.ReadExactlyAsync(extended, timeout.Token);
                    length = extended.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(extended) : BinaryPrimitives.ReadInt64BigEndian(extended);
                }
                var payload = new byte[length];
                await _stream.ReadExactlyAsync(payload, timeout.Token);
                if ((header[0] & 0x0F) == 0x8)
                {
                    return payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : 1005;
                }
            }
        }

        /// <summary>How the connection ends once the close is done: "end of stream" (a FIN) or the socket error (a reset).</summary>
        public async Task<string> ReadEndAsync()
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(20));
            var buffer = new byte[4096];
            try
            {
                while (await _stream.ReadAsync(buffer, timeout.Token) > 0)
                {
                }
                return "end of stream";
            }
            catch (IOException ex) when (ex.InnerException is SocketException socket)
            {
                return socket.SocketErrorCode.ToString();
            }
        }

        public void Dispose() => tcp.Dispose();
    }
}
