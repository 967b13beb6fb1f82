using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Unicode;

namespace Portal.IntegrationTests.Faults.Fuzzing;

/// <summary>
/// Sends fuzzed frames to one target over several connections at once, each reading and checking every reply as it
/// comes. A connection sends a burst of frames, at most <see cref="Window"/> ahead of the replies, then closes; when the
/// server closes it first (an oversized frame, say), the close is checked and a new connection takes over. A text frame
/// that is not UTF-8 ends its burst: .NET's WebSocket layer answers it with 1007 before Portal sees it and aborts the
/// socket. A connection that ends in a reset instead of a close is counted, and how it ended is kept for the report;
/// whether that is a problem is the test's to say. Every lane has its own <see cref="Random"/> from the seed.
/// </summary>
internal sealed class FuzzRunner(FuzzTarget target, FuzzContext context, int seed)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const int Window = 16;
    private int _sent;
    private int _replies;
    private int _connections;
    private int _resetsAfterInvalidUtf8;
    private int _otherResets;

    public int FramesSent => Volatile.Read(ref _sent);
    public int Replies => Volatile.Read(ref _replies);
    public int Connections => Volatile.Read(ref _connections);
    public int ResetsAfterInvalidUtf8 => Volatile.Read(ref _resetsAfterInvalidUtf8);

    /// <summary>Connections that ended in a reset where a close was due, not right after invalid UTF-8.</summary>
    public int OtherResets => Volatile.Read(ref _otherResets);

    public int Resets => ResetsAfterInvalidUtf8 + OtherResets;
    public ConcurrentQueue<string> Problems { get; } = new();

    /// <summary>How each reset came: whether the close had arrived, the exception, the last frames sent.</summary>
    public ConcurrentQueue<string> ResetDetails { get; } = new();
    public ConcurrentDictionary<int, int> Closes { get; } = new();

    public async Task RunAsync(int frames, int lanes, CancellationToken cancellationToken) =>
        await Task.WhenAll(Enumerable.Range(0, lanes).Select(lane =>
            LaneAsync(new Random(seed + lane), frames / lanes + (lane < frames % lanes ? 1 : 0), cancellationToken)));

    private async Task LaneAsync(Random random, int quota, CancellationToken cancellationToken)
    {
        var sent = 0;
        while (sent < quota && Problems.Count < 100)
        {
            using var socket = new ClientWebSocket();
            target.Configure(socket.Options, context);
            var uri = new UriBuilder(context.BaseAddress) { Scheme = "ws", Path = target.Path }.Uri;
            try
            {
                using var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                connecting.CancelAfter(Patience);
                await socket.ConnectAsync(uri, connecting.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                Problems.Enqueue($"{target.Name}: could not connect: {ex.Message}");
                return;
            }
            Interlocked.Increment(ref _connections);
            var connection = new FuzzConnection();
            var recent = connection.Recent;
            var reading = ReadAsync(socket, connection, cancellationToken);
            try
            {
                await target.OpenAsync(socket, connection, random, cancellationToken);
                var burst = random.Next(20, 500);
                var brokeProtocol = false;
                for (var i = 0; i < burst && sent < quota && !reading.IsCompleted && !brokeProtocol; i++)
                {
                    var frame = target.NextFrame(random);
                    brokeProtocol = frame.Type == WebSocketMessageType.Text && !Utf8.IsValid(frame.Data);
                    await connection.CatchUpAsync(Window, reading);
                    connection.BrokeProtocol = brokeProtocol;
                    connection.Sent(frame);
                    Remember(recent, frame);
                    using var sending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    sending.CancelAfter(Patience);
                    await socket.SendAsync(frame.Data, frame.Type, endOfMessage: true, sending.Token);
                    sent++;
                    Interlocked.Increment(ref _sent);
                }
                await connection.CatchUpAsync(0, reading);
                // The reader may be answering the server's close at this very moment: one close from this side.
                if (socket.State == WebSocketState.Open && !brokeProtocol && connection.TryStartClose())
                {
                    using var closing = new CancellationTokenSource(Patience);
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "fuzz burst done", closing.Token);
                }
            }
            catch (WebSocketException)
            {
                // The server closed meanwhile (an oversized frame, say): the reader saw how.
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Problems.Enqueue($"{target.Name}: a send or close took longer than {Patience.TotalSeconds:0} s");
            }
            if (await Task.WhenAny(reading, Task.Delay(Patience, cancellationToken)) != reading)
            {
                Problems.Enqueue($"{target.Name}: the server did not close within {Patience.TotalSeconds:0} s");
                socket.Abort();
            }
            if (!await reading)
            {
                lock (recent)
                {
                    Problems.Enqueue($"{target.Name}:   last frames sent on that connection: {string.Join(" | ", recent)}");
                }
            }
        }
    }

    /// <summary>The last frames sent on a connection, shortened, for the report of a problem.</summary>
    private static void Remember(Queue<string> recent, FuzzFrame frame)
    {
        var head = frame.Data.Length <= 80 ? frame.Data : frame.Data[..80];
        lock (recent)
        {
            recent.Enqueue($"{frame.Type} {frame.Data.Length} B {Convert.ToHexString(head)}");
            if (recent.Count > 3)
            {
                recent.Dequeue();
            }
        }
    }

    /// <summary>Reads and checks every message until the close, which is checked and answered; false when something was wrong.</summary>
    private async Task<bool> ReadAsync(ClientWebSocket socket, FuzzConnection connection, CancellationToken cancellationToken)
    {
        var ok = true;
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    Closes.AddOrUpdate((int?)socket.CloseStatus ?? 0, 1, (_, n) => n + 1);
                    if (target.CheckClose(socket.CloseStatus, socket.CloseStatusDescription) is { } problem)
                    {
                        Problems.Enqueue($"{target.Name}: {problem}");
                        ok = false;
                    }
                    if (socket.State == WebSocketState.CloseReceived && connection.TryStartClose())
                    {
                        using var closing = new CancellationTokenSource(Patience);
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, closing.Token);
                    }
                    return ok;
                }
                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    var reply = new FuzzFrame(result.MessageType, message.ToArray());
                    message.SetLength(0);
                    Interlocked.Increment(ref _replies);
                    connection.Replied();
                    if (target.CheckReply(reply, connection) is { } problem)
                    {
                        Problems.Enqueue($"{target.Name}: {problem}");
                        ok = false;
                    }
                }
            }
        }
        catch (WebSocketException ex)
        {
            Interlocked.Increment(ref connection.BrokeProtocol ? ref _resetsAfterInvalidUtf8 : ref _otherResets);
            lock (connection.Recent)
            {
                ResetDetails.Enqueue($"{target.Name}: {(connection.BrokeProtocol ? "after invalid UTF-8, " : "")}" +
                    (socket.CloseStatus is { } status ? $"close {(int)status} received, then " : "no close received: ") +
                    $"{ex.Message} ({ex.InnerException?.Message}); {connection.SentCount} frames sent, {connection.ReplyCount} replies; last frames: {string.Join(" | ", connection.Recent)}");
            }
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Problems.Enqueue($"{target.Name}: a close timed out");
        }
        catch (OperationCanceledException)
        {
            return ok;
        }
        return false;
    }
}
