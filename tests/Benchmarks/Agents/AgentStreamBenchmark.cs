using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Runtime;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Portal.Benchmarks.Proxy;
using static Portal.Benchmarks.CommandLine;

namespace Portal.Benchmarks.Agents;

/// <summary>
/// Many agent sessions streaming at once: Portal (Release, a process of its own, real SQLite) runs an OpenAI-compatible
/// agent against <see cref="PacedModelServer"/>; one <c>/ws/agent</c> client per session sends a question and reads
/// the reply. Every token carries its stream, index and send time, so each client counts tokens lost, doubled or out
/// of order and the delay from the provider's flush to its own receive. Portal's CPU time over the measured phase is
/// divided by the tokens delivered.
/// </summary>
internal static partial class AgentStreamBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var sessions = Option(args, "--sessions", 200);
        var seconds = Option(args, "--seconds", 60);
        var rate = Option(args, "--rate", 50);
        var warmupSeconds = Option(args, "--warmup", 15);

        await using var model = await PacedModelServer.StartAsync();
        var folder = Directory.CreateTempSubdirectory("portal-bench-agents-").FullName;
        var port = ProcessTools.FreePort();
        await using var portal = ProcessTools.StartPortal(folder, port, new Dictionary<string, string>
        {
            ["PROVIDER"] = "openai",
            ["MODEL"] = "gpt-4o-mini",
            ["OPENAI_BASE_URL"] = model.BaseUrl.ToString(),
            ["OPENAI_API_KEY"] = "sk-benchmark-key",
        });
        try
        {
            await ProcessTools.WaitForPortAsync(port);
            var baseAddress = new Uri($"http://127.0.0.1:{port}");
            var cookies = await SignInAsync(baseAddress);
            var endpoint = new Uri($"ws://127.0.0.1:{port}/ws/agent");
            Console.WriteLine($"Agent streaming benchmark: {Environment.ProcessorCount} cores, .NET {Environment.Version}, client server GC {GCSettings.IsServerGC}");
            Console.WriteLine($"{sessions} sessions x {rate} tokens/s for {seconds} s from a paced OpenAI-compatible stream on loopback, " +
                $"Portal (Release, own process, SQLite in {folder}) to one /ws/agent client per session; warm-up {warmupSeconds} s");

            // Warm-up: the same path on fewer sessions, so the JIT has finished its tiers before measuring.
            model.StreamFor = TimeSpan.FromSeconds(warmupSeconds);
            model.TokensPerSecond = rate;
            var warmTokens = (await RunSessionsAsync(endpoint, cookies, model, Math.Min(sessions, 50), firstStream: 100_000)).Sum(r => (long)r.Received);
            await Task.Delay(TimeSpan.FromSeconds(3));

            model.Reset();
            model.StreamFor = TimeSpan.FromSeconds(seconds);
            var cpuBefore = ProcessTools.CpuTimeWithChildren(portal.Id);
            var ownCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            var results = await RunSessionsAsync(endpoint, cookies, model, sessions, firstStream: 0);
            wall.Stop();
            var cpu = ProcessTools.CpuTimeWithChildren(portal.Id) - cpuBefore;
            var ownCpu = Process.GetCurrentProcess().TotalProcessorTime - ownCpuBefore;
            var rss = ProcessTools.ResidentBytesWithChildren(portal.Id);

            var sent = results.Sum(r => (long)model.Sent(r.Stream));
            var received = results.Sum(r => (long)r.Received);
            var lost = sent - received;
            var duplicated = results.Sum(r => r.Duplicated);
            var reordered = results.Sum(r => r.OutOfOrder);
            var failed = results.Where(r => r.Failure is not null).ToList();
            var delays = results.SelectMany(r => r.DelaysMs).ToList();
            var percentiles = Percentiles.Of(delays);
            var max = delays.Count == 0 ? double.NaN : delays[^1];
            var perThousand = cpu.TotalMilliseconds / (received / 1000.0);
            var stored = await StoredDeltasAsync(Path.Combine(folder, "data", "portal.db"), warmTokens + received) - warmTokens;

            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"measured {wall.Elapsed.TotalSeconds:0.0} s; Portal CPU {cpu.TotalSeconds:0.0} s " +
                $"({cpu.TotalSeconds / wall.Elapsed.TotalSeconds * 100:0} % of one core), benchmark process (provider + clients) CPU {ownCpu.TotalSeconds:0.0} s, Portal RSS {rss / 1048576.0:0} MiB"));
            Console.WriteLine(Tail(results));
            foreach (var failure in failed.Take(5))
            {
                Console.WriteLine($"  stream {failure.Stream} failed: {failure.Failure}");
            }
            Console.WriteLine();
            Console.WriteLine("| sessions | tokens/s each | seconds | tokens sent | received | lost | stored as events | doubled | out of order | sessions failed | p50 delay | p99 delay | max delay | Portal CPU per 1,000 tokens |");
            Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {sessions} | {rate} | {seconds} | {sent:N0} | {received:N0} | {lost} | {stored:N0} | {duplicated} | {reordered} | {failed.Count} | {percentiles.P50:0.0} ms | {percentiles.P99:0.0} ms | {max:0.0} ms | {perThousand:0.0} ms |"));
            return lost == 0 && stored == received && duplicated == 0 && reordered == 0 && failed.Count == 0 ? 0 : 1;
        }
        finally
        {
            await portal.KillAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<List<StreamResult>> RunSessionsAsync(Uri endpoint, CookieContainer cookies, PacedModelServer model, int sessions, int firstStream)
    {
        // Spread the starts over one token interval, as independent users would be; each session starts its run at once
        // after connecting.
        var spread = TimeSpan.FromSeconds(1 / model.TokensPerSecond) / sessions;
        var runs = Enumerable.Range(0, sessions)
            .Select(i => RunSessionAsync(endpoint, cookies, firstStream + i, spread * i, model.StreamFor + TimeSpan.FromSeconds(60)))
            .ToList();
        return [.. await Task.WhenAll(runs)];
    }

    private static async Task<StreamResult> RunSessionAsync(Uri endpoint, CookieContainer cookies, int stream, TimeSpan startAfter, TimeSpan limit)
    {
        var result = new StreamResult(stream);
        using var socket = new ClientWebSocket();
        socket.Options.Cookies = cookies;
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        using var timeout = new CancellationTokenSource(limit);
        var buffer = new byte[64 * 1024];
        try
        {
            await Task.Delay(startAfter, timeout.Token);
            await socket.ConnectAsync(endpoint, timeout.Token);
            var input = JsonSerializer.SerializeToUtf8Bytes(new
            {
                id = "c1",
                type = "user_input",
                payload = new { input = new[] { new { type = "message", role = "user", content = new[] { new { type = "input_text", text = $"stream {stream}: go" } } } } },
            });
            await socket.SendAsync(input, WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
            var expected = 0;
            while (true)
            {
                var count = 0;
                ValueWebSocketReceiveResult received;
                do
                {
                    if (count == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2); // the complete reply (response_item) is one large frame
                    }
                    received = await socket.ReceiveAsync(buffer.AsMemory(count), timeout.Token);
                    count += received.Count;
                }
                while (!received.EndOfMessage && received.MessageType != WebSocketMessageType.Close);
                var now = Stopwatch.GetTimestamp();
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    result.Failure = $"closed {socket.CloseStatus} {socket.CloseStatusDescription}";
                    break;
                }
                using var frame = JsonDocument.Parse(buffer.AsMemory(0, count));
                var type = frame.RootElement.GetProperty("type").GetString();
                var payload = frame.RootElement.GetProperty("payload");
                if (type == "response_delta")
                {
                    foreach (Match token in Token().Matches(payload.GetProperty("delta").GetString() ?? ""))
                    {
                        var index = int.Parse(token.Groups[2].Value, CultureInfo.InvariantCulture);
                        var sentAt = long.Parse(token.Groups[3].Value, CultureInfo.InvariantCulture);
                        if (index < expected)
                        {
                            result.Duplicated++;
                            continue;
                        }
                        if (index > expected)
                        {
                            result.OutOfOrder++;
                        }
                        expected = index + 1;
                        result.Received++;
                        result.DelaysMs.Add(Stopwatch.GetElapsedTime(sentAt, now).TotalMilliseconds);
                        result.SentAt.Add(sentAt);
                    }
                }
                else if (type == "error")
                {
                    result.Failure = payload.GetRawText();
                }
                else if (type == "agent_finished")
                {
                    if (payload.GetProperty("status").GetString() != "completed")
                    {
                        result.Failure ??= "turn " + payload.GetProperty("status").GetString();
                    }
                    break;
                }
            }
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or JsonException)
        {
            result.Failure = ex.GetType().Name + ": " + ex.Message;
        }
        return result;
    }

    /// <summary>response_delta events in Portal's database, once the writer has caught up with <paramref name="expected"/> (or 30 s passed).</summary>
    private static async Task<long> StoredDeltasAsync(string database, long expected)
    {
        using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM SessionEvents WHERE Type = 'response_delta'";
        var deadline = Stopwatch.StartNew();
        long stored;
        while ((stored = (long)(await count.ExecuteScalarAsync())!) < expected && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(200);
        }
        return stored;
    }

    private static async Task<CookieContainer> SignInAsync(Uri baseAddress)
    {
        var cookies = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = baseAddress };
        var form = await http.GetStringAsync("/account/login");
        using var response = await http.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "login",
            ["__RequestVerificationToken"] = AntiforgeryField().Match(form).Groups[1].Value,
            ["Input.Email"] = ProcessTools.AdminEmail,
            ["Input.Password"] = ProcessTools.AdminPassword,
        }));
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Sign-in failed: {(int)response.StatusCode}");
        }
        return cookies;
    }

    private sealed class StreamResult(int stream)
    {
        public int Stream { get; } = stream;
        public int Received { get; set; }
        public int Duplicated { get; set; }
        public int OutOfOrder { get; set; }
        public string? Failure { get; set; }
        public List<double> DelaysMs { get; } = new(4096);
        /// <summary>The provider's write of each token in <see cref="DelaysMs"/> (Stopwatch timestamp).</summary>
        public List<long> SentAt { get; } = new(4096);
    }

    /// <summary>Tokens delayed over 100 ms, and the p99 of the tokens the provider wrote in each second of the run: whether the tail is spread or comes in stalls.</summary>
    private static string Tail(List<StreamResult> results)
    {
        var tokens = results.SelectMany(r => r.SentAt.Zip(r.DelaysMs)).ToList();
        if (tokens.Count == 0)
        {
            return "no tokens";
        }
        var start = tokens.Min(t => t.First);
        var over = tokens.Count(t => t.Second > 100);
        var bySecond = tokens.GroupBy(t => (int)Stopwatch.GetElapsedTime(start, t.First).TotalSeconds).OrderBy(g => g.Key)
            .Select(g => Percentiles.Of([.. g.Select(t => t.Second)]).P99.ToString("0", CultureInfo.InvariantCulture));
        return string.Create(CultureInfo.InvariantCulture, $"tokens delayed over 100 ms: {over:N0} ({over * 100.0 / tokens.Count:0.00} %); ") +
            "p99 delay of the tokens written in each second of the run, ms: " + string.Join(' ', bySecond);
    }

    [GeneratedRegex(@"(\d+)\.(\d+)\.(\d+) ")]
    private static partial Regex Token();

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
