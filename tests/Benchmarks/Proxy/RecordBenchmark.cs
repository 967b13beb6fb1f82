using System.Diagnostics;
using System.Net.WebSockets;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Portal.Endpoints.Ces;
using Portal.Proxy.Telemetry;
using Portal.Sessions;
using static Portal.Benchmarks.CommandLine;

namespace Portal.Benchmarks.Proxy;

/// <summary>
/// What recording a proxied frame costs, without the network: Portal's CES recorder, bus and durable writer as the host
/// runs them, fed 256-byte text frames (words, or with --same-text the proxy benchmark's frame) both ways on many
/// connections at once, paced at a rate, timed until every frame is committed. CPU per frame is the whole process's
/// (recorder, bus, writer, SQLite), the figure the proxy benchmark's "recorded" path adds to forwarding. The
/// counted-only mode (frames counted, not stored) runs beside it.
/// </summary>
internal static class RecordBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var frames = Option(args, "--frames", 200_000);
        var connections = Option(args, "--connections", 100);
        var runs = Option(args, "--runs", 5);
        // --rate N: frames per second over all connections, paced as a proxy under load would deliver them (the proxy
        // benchmark's 100 busy connections forward about 30,000 a second); 0 appends as fast as the producers can.
        var rate = Option(args, "--rate", 30_000);
        // --same-text: the proxy benchmark's frame, one word repeated (the full-text index's cheapest case); by default
        // frames of varied words, as people and agents write.
        var texts = args.Contains("--same-text") ? [Workloads.TextFrame] : Workloads.WordFrames(256);
        var set = Array.IndexOf(args, "--set") is var at and >= 0 && at + 1 < args.Length ? args[at + 1] : "";
        var settings = set.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0], p => (string?)p[1]);
        if (settings.Count > 0)
        {
            Console.WriteLine("Settings: " + set);
        }
        Console.WriteLine($"Recording proxied frames: {frames:N0} text frames of {texts[0].Length} bytes " +
            (texts.Length == 1 ? "(one word repeated)" : "(varied words)") + $" over {connections} connections, " +
            $"half each way, " + (rate > 0 ? $"{rate:N0} frames/s" : "as fast as possible") + $", median of {runs} runs (after one warm-up run each)");
        Console.WriteLine($"{Environment.ProcessorCount} cores, .NET {Environment.Version}");
        var recorded = new List<RunResult>();
        var counted = new List<RunResult>();
        await RunOnceAsync(frames / 4, connections, rate, settings, texts, record: true);
        await RunOnceAsync(frames / 4, connections, rate, settings, texts, record: false);
        for (var run = 0; run < runs; run++)
        {
            recorded.Add(await RunOnceAsync(frames, connections, rate, settings, texts, record: true));
            counted.Add(await RunOnceAsync(frames, connections, rate, settings, texts, record: false));
            Console.WriteLine($"  run {run + 1}: recorded {recorded[^1]}   counted {counted[^1]}");
        }
        Console.WriteLine();
        Console.WriteLine("| mode | frames/s | CPU per frame | bytes written per frame | reads per frame | writes per frame | frames per commit | WAL file at the end |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, results) in new[] { ("text frames recorded", recorded), ("frames counted only", counted) })
        {
            Console.WriteLine($"| {name} | {Median(results.Select(r => r.Rate)):N0} | {Median(results.Select(r => r.Cpu)):0.0} us | " +
                $"{Median(results.Select(r => r.WrittenBytes)):N0} | {Median(results.Select(r => r.Reads)):0.00} | {Median(results.Select(r => r.Writes)):0.00} | {Median(results.Select(r => r.PerCommit)):N0} | {Median(results.Select(r => r.WalBytes / 1048576.0)):N1} MiB |");
        }
        Console.WriteLine("(medians; bytes, reads and writes are the process's read and write calls from /proc/self/io: SQLite's WAL and checkpoints)");
        return 0;
    }

    private static async Task<RunResult> RunOnceAsync(int frames, int connections, int rate, Dictionary<string, string?> settings, byte[][] texts, bool record)
    {
        var folder = Directory.CreateTempSubdirectory("portal-bench-record-");
        try
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Portal:Sessions:DatabasePath"] = Path.Combine(folder.FullName, "portal.db"),
                [$"{CesRecordingOptions.Section}:RecordFrames"] = record ? "true" : "false",
            });
            // --set "Key=Value;Key=Value": Portal settings for this run, e.g. "Portal:Sessions:WriterLinger=00:00:00.010".
            builder.Configuration.AddInMemoryCollection(settings);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.AddSessions();
            builder.Services.AddOptions<CesRecordingOptions>().BindConfiguration(CesRecordingOptions.Section);
            builder.Services.AddSingleton<ICesProxyObserver, CesSessionRecorder>();
            using var host = builder.Build();
            await host.StartAsync();
            var recorder = host.Services.GetRequiredService<ICesProxyObserver>();
            var bus = host.Services.GetRequiredService<ISessionBus>();
            var observers = new ICesConnectionObserver[connections];
            for (var i = 0; i < connections; i++)
            {
                observers[i] = await recorder.ConnectionOpenedAsync(new CesConnectionInfo($"c{i}", "http://127.0.0.1", "127.0.0.1", "/ces"), CancellationToken.None);
            }

            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var ioBefore = ProcessIo();
            var writer = host.Services.GetRequiredService<Portal.Sessions.Storage.DurableEventWriter>();
            var batchesBefore = writer.Health.Batches;
            var stopwatch = Stopwatch.StartNew();
            var perConnection = frames / connections;
            await Task.WhenAll(observers.Select(observer => Task.Run(async () =>
            {
                for (var i = 0; i < perConnection; i++)
                {
                    if (rate > 0 && TimeSpan.FromSeconds(i * (double)connections / rate) - stopwatch.Elapsed is { Ticks: > 0 } ahead)
                    {
                        await Task.Delay(ahead);
                    }
                    var direction = i % 2 == 0 ? FrameDirection.ClientToUpstream : FrameDirection.UpstreamToClient;
                    var payload = texts[(i + Array.IndexOf(observers, observer)) % texts.Length];
                    await observer.FrameAsync(direction, FrameKind.Text, WebSocketMessageType.Text, payload, payload.Length, CancellationToken.None);
                    if (rate == 0 && i % 64 == 63)
                    {
                        await Task.Yield(); // connections take turns, as their frames would arrive
                    }
                }
            })));
            var ids = await SessionIdsAsync(host, connections);
            foreach (var id in ids)
            {
                await bus.WaitUntilDurableAsync(id, CancellationToken.None);
            }
            var elapsed = stopwatch.Elapsed;
            // The text the writer left in the search backlog under load costs its indexing too: counted, though it
            // happens up to SearchIndexDelay after the frames are stored.
            while (writer.SearchBacklog > 0)
            {
                await Task.Delay(10);
            }
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            var io = ProcessIo();
            var batches = writer.Health.Batches - batchesBefore;
            var walBytes = new FileInfo(Path.Combine(folder.FullName, "portal.db-wal")) is { Exists: true } wal ? wal.Length : 0;
            await host.StopAsync();
            var total = perConnection * connections;
            return new(total / elapsed.TotalSeconds, cpu.TotalMicroseconds / total,
                (io.Written - ioBefore.Written) / (double)total, (io.Reads - ioBefore.Reads) / (double)total, (io.Writes - ioBefore.Writes) / (double)total, total / (double)Math.Max(1, batches), walBytes);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            folder.Delete(recursive: true);
        }
    }

    private static async Task<List<string>> SessionIdsAsync(IHost host, int count)
    {
        var query = host.Services.GetRequiredService<ISessionStore>();
        var page = await query.ListAsync(new SessionQuery { Kind = SessionKinds.CesProxy, PageSize = count }, CancellationToken.None);
        return page.Items.Select(s => s.Id).ToList();
    }

    /// <summary>Bytes written and read and write calls made by this process so far (Linux).</summary>
    private static (long Written, long Reads, long Writes) ProcessIo()
    {
        var fields = File.ReadAllLines("/proc/self/io").Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
        return (fields["wchar"], fields["syscr"], fields["syscw"]);
    }

    private sealed record RunResult(double Rate, double Cpu, double WrittenBytes, double Reads, double Writes, double PerCommit, long WalBytes)
    {
        public override string ToString() =>
            $"{Rate,9:N0} frames/s {Cpu,5:0.0} us CPU {WrittenBytes,6:N0} B written {Reads,5:0.00} reads {Writes,5:0.00} writes per frame {PerCommit,6:N0} frames per commit, WAL file {WalBytes / 1048576.0,6:N1} MiB";
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
