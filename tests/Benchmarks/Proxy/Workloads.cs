using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Portal.Benchmarks.Proxy;

internal sealed record Percentiles(double P50, double P99, int Count)
{
    public static Percentiles Of(List<double> values)
    {
        values.Sort();
        return values.Count == 0 ? new(double.NaN, double.NaN, 0) : new(values[(int)(values.Count * 0.50)], values[Math.Min(values.Count - 1, (int)(values.Count * 0.99))], values.Count);
    }
}

internal sealed record AudioResult(long Sent, long Received, Percentiles RoundTripMs)
{
    public long Lost => Sent - Received;
}

/// <summary>What a widget-shaped client does, measured: ping-pong latency, audio streams, idle connections.</summary>
internal static class Workloads
{
    private static readonly HttpMessageInvoker Invoker = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(10) });
    private static readonly byte[] Config = JsonSerializer.SerializeToUtf8Bytes(new
    {
        config = new
        {
            session = "projects/bench/locations/us/apps/app/sessions/s",
            inputAudioConfig = new { audioEncoding = "LINEAR16", sampleRateHertz = 16000 },
            accessToken = "ya29.benchmark-client-token",
        },
    });

    /// <summary>A 256-byte JSON text frame, as the widget's text input.</summary>
    public static readonly byte[] TextFrame = MakeTextFrame(256);

    public static async Task<ClientWebSocket> ConnectAsync(Uri uri)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.SetRequestHeader("Origin", "https://bench.example.com");
        await socket.ConnectAsync(uri, Invoker, CancellationToken.None);
        await socket.SendAsync(Config, WebSocketMessageType.Text, true, CancellationToken.None);
        await ReceiveAsync(socket, new byte[64 * 1024]); // the upstream echoes the config
        return socket;
    }

    /// <summary>Round trips of 256-byte text frames on <paramref name="connections"/> connections at once, in microseconds.</summary>
    public static async Task<Percentiles> LatencyAsync(Uri uri, int connections, int roundTripsEach, int warmupEach = 100)
    {
        var sockets = new List<ClientWebSocket>();
        for (var i = 0; i < connections; i++)
        {
            sockets.Add(await ConnectAsync(uri));
        }
        var all = new List<double>();
        await Task.WhenAll(sockets.Select(socket => Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            var mine = new List<double>(roundTripsEach);
            for (var i = 0; i < warmupEach + roundTripsEach; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await socket.SendAsync(TextFrame, WebSocketMessageType.Text, true, CancellationToken.None);
                await ReceiveAsync(socket, buffer);
                if (i >= warmupEach)
                {
                    mine.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                }
            }
            lock (all)
            {
                all.AddRange(mine);
            }
        })));
        await CloseAllAsync(sockets);
        return Percentiles.Of(all);
    }

    /// <summary>
    /// Runs 100 connections of ping-pong text frames and 50 of binary frames for a while, so that a .NET intermediary's
    /// code is fully jitted (tiered compilation settles after a few seconds of load) before anything is measured.
    /// </summary>
    public static async Task WarmUpAsync(Uri uri, TimeSpan duration)
    {
        var sockets = new List<ClientWebSocket>();
        for (var i = 0; i < 150; i++)
        {
            sockets.Add(await ConnectAsync(uri));
        }
        var end = DateTime.UtcNow + duration;
        var binary = new byte[640];
        await Task.WhenAll(sockets.Select((socket, index) => Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            while (DateTime.UtcNow < end)
            {
                await socket.SendAsync(index < 100 ? TextFrame : binary, index < 100 ? WebSocketMessageType.Text : WebSocketMessageType.Binary, true, CancellationToken.None);
                await ReceiveAsync(socket, buffer);
            }
        })));
        await CloseAllAsync(sockets);
    }

    /// <summary>Streams of 640-byte binary frames every 20 ms (16 kHz PCM16 in 20 ms chunks), echoed; counts losses and round trips.</summary>
    public static async Task<AudioResult> AudioAsync(Uri uri, int streams, TimeSpan duration)
    {
        var sockets = new List<ClientWebSocket>();
        for (var i = 0; i < streams; i++)
        {
            sockets.Add(await ConnectAsync(uri));
        }
        long sent = 0, received = 0;
        var roundTrips = new List<double>();
        var sending = new CancellationTokenSource(duration);
        var tasks = sockets.Select((socket, index) => Task.Run(async () =>
        {
            var receiving = Task.Run(async () =>
            {
                var buffer = new byte[64 * 1024];
                var mine = new List<double>();
                try
                {
                    while (true)
                    {
                        var (type, length) = await ReceiveAsync(socket, buffer);
                        if (type == WebSocketMessageType.Close)
                        {
                            break;
                        }
                        var stamp = BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(8));
                        mine.Add(Stopwatch.GetElapsedTime(stamp).TotalMilliseconds);
                        Interlocked.Increment(ref received);
                    }
                }
                catch (WebSocketException)
                {
                }
                lock (roundTrips)
                {
                    roundTrips.AddRange(mine);
                }
            });
            await Task.Delay(index * 20 / streams); // spread the streams over one 20 ms period
            var frame = new byte[640];
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            long seq = 0;
            while (!sending.IsCancellationRequested && await timer.WaitForNextTickAsync(CancellationToken.None))
            {
                BinaryPrimitives.WriteInt64LittleEndian(frame, seq++);
                BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(8), Stopwatch.GetTimestamp());
                await socket.SendAsync(frame, WebSocketMessageType.Binary, true, CancellationToken.None);
                Interlocked.Increment(ref sent);
            }
            return receiving;
        })).ToList();
        var receivers = await Task.WhenAll(tasks);
        // Everything sent gets up to five seconds to come back; what does not is lost.
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (Interlocked.Read(ref received) < Interlocked.Read(ref sent) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        await CloseAllAsync(sockets);
        await Task.WhenAll(receivers);
        return new AudioResult(sent, received, Percentiles.Of(roundTrips));
    }

    /// <summary>Opens idle connections (config sent, echo received, then nothing) and holds them.</summary>
    public static async Task<List<ClientWebSocket>> OpenIdleAsync(Uri uri, int count)
    {
        var sockets = new List<ClientWebSocket>(count);
        for (var batch = 0; batch < count; batch += 50)
        {
            sockets.AddRange(await Task.WhenAll(Enumerable.Range(0, Math.Min(50, count - batch)).Select(_ => ConnectAsync(uri))));
        }
        return sockets;
    }

    public static async Task CloseAllAsync(List<ClientWebSocket> sockets)
    {
        await Task.WhenAll(sockets.Select(async socket =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
            }
            socket.Dispose();
        }));
    }

    private static async Task<(WebSocketMessageType Type, int Length)> ReceiveAsync(WebSocket socket, byte[] buffer)
    {
        var length = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (WebSocketMessageType.Close, 0);
            }
            length += result.Count;
            if (result.EndOfMessage)
            {
                return (result.MessageType, length);
            }
        }
    }

    /// <summary>
    /// 256-byte JSON text frames whose text is words, as people type and agents answer: drawn from a vocabulary of 5,000
    /// made-up words with Zipf frequencies (a few words in most frames, most words rare), seeded so every run has the
    /// same ones. <see cref="TextFrame"/> is one word repeated, which the full-text index handles at its cheapest.
    /// </summary>
    public static byte[][] WordFrames(int count, int size = 256)
    {
        var random = new Random(42);
        var vocabulary = Enumerable.Range(0, 5_000).Select(_ => new string(Enumerable.Range(0, random.Next(2, 10)).Select(_ => (char)('a' + random.Next(26))).ToArray())).ToArray();
        var weights = Enumerable.Range(1, vocabulary.Length).Select(rank => 1.0 / rank).ToArray();
        var cumulative = new double[weights.Length];
        var sum = 0.0;
        for (var i = 0; i < weights.Length; i++)
        {
            cumulative[i] = sum += weights[i];
        }
        const string prefix = "{\"realtimeInput\":{\"text\":\"";
        const string suffix = "\"}}";
        return Enumerable.Range(0, count).Select(_ =>
        {
            var text = new StringBuilder();
            while (true)
            {
                var index = Array.BinarySearch(cumulative, random.NextDouble() * sum);
                var word = vocabulary[index < 0 ? ~index : index];
                if (prefix.Length + text.Length + word.Length + 1 + suffix.Length > size)
                {
                    break;
                }
                text.Append(word).Append(' ');
            }
            text.Append('.', size - prefix.Length - text.Length - suffix.Length);
            return Encoding.UTF8.GetBytes(prefix + text + suffix);
        }).ToArray();
    }

    private static byte[] MakeTextFrame(int size)
    {
        var prefix = "{\"realtimeInput\":{\"text\":\"";
        var suffix = "\"}}";
        return Encoding.UTF8.GetBytes(prefix + new string('a', size - prefix.Length - suffix.Length) + suffix);
    }
}
