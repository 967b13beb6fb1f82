using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Portal.Sessions;
using Portal.Sessions.Storage;
using static Portal.Benchmarks.CommandLine;

namespace Portal.Benchmarks;

/// <summary>
/// Durable event ingest: Portal's bus and writer (append from several producers until every event is committed)
/// against raw Microsoft.Data.Sqlite inserting the same rows in one transaction with one reused command, same schema,
/// same pragmas, same machine, same run.
/// </summary>
internal static class IngestBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var events = Option(args, "--events", 200_000);
        var sessions = Option(args, "--sessions", 100);
        var producers = Option(args, "--producers", 4);
        var runs = Option(args, "--runs", 5);
        // --text-every N: every Nth event is a complete message (a user input or an assistant message, alternately)
        // whose text goes into the full-text index; 0 (the default) appends deltas only, as the figures of issue 1 did.
        var textEvery = Option(args, "--text-every", 0);
        (string Type, string Direction, string Payload)[] payloads = Enumerable.Range(0, 64).Select(i => textEvery > 0 && i % textEvery == textEvery - 1
            ? (i / textEvery % 2 == 0
                ? (EventTypes.UserInput, EventDirections.In, $$"""{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Please list the files of project {{i}} and tell me which one is the largest"}]}]}""")
                : (EventTypes.ResponseItem, EventDirections.Out, $$"""{"type":"message","id":"msg_{{i}}","runId":"4e693894f30d43558ff6c29cc74c4c7c","role":"assistant","content":[{"type":"output_text","text":"The largest file of project {{i}} is notes.txt with forty lines of text"}]}"""))
            : (EventTypes.ResponseDelta, EventDirections.Out, $$"""{"runId":"4e693894f30d43558ff6c29cc74c4c7c","itemId":"ddfa0515efed4d6391c8130734b2e971","delta":"token {{i}} of a streamed reply"}""")).ToArray();

        Console.WriteLine($"Event ingest, {events:N0} events over {sessions} sessions, {producers} producers, payload {payloads[0].Payload.Length} bytes" +
            (textEvery > 0 ? $", every {textEvery}th a complete message for the full-text index" : "") + $", best and median of {runs} runs");
        Console.WriteLine($"{Environment.ProcessorCount} cores, .NET {Environment.Version}, SQLite {SqliteVersion()}");
        var raw = new List<double>();
        var bus = new List<double>();
        var busCpu = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            raw.Add(await RawAsync(events, sessions, payloads));
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            bus.Add(await BusAsync(events, sessions, producers, payloads));
            // CPU time of the whole process (producers and writer) per event: steadier than the rate on a shared machine.
            busCpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds / events);
            Console.WriteLine($"  run {run + 1}: raw {raw[^1],10:N0} ev/s   bus+writer {bus[^1],10:N0} ev/s   bus CPU {busCpu[^1],5:0.0} us/event");
        }
        raw.Sort();
        bus.Sort();
        busCpu.Sort();
        Console.WriteLine();
        Console.WriteLine("| path | best events/s | median events/s |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| raw Microsoft.Data.Sqlite, one transaction, reused command | {raw[^1]:N0} | {raw[raw.Count / 2]:N0} |");
        Console.WriteLine($"| Portal bus + durable writer (until committed) | {bus[^1]:N0} | {bus[bus.Count / 2]:N0} |");
        Console.WriteLine($"| ratio bus / raw (median) | | {bus[bus.Count / 2] / raw[raw.Count / 2]:0.00}x |");
        Console.WriteLine($"| bus + writer CPU per event (median, session setup included) | | {busCpu[busCpu.Count / 2]:0.0} us |");
        return 0;
    }

    private static async Task<double> RawAsync(int events, int sessions, (string Type, string Direction, string Payload)[] payloads)
    {
        var folder = Directory.CreateTempSubdirectory("portal-bench-raw-");
        try
        {
            var path = Path.Combine(folder.FullName, "portal.db");
            await CreateSchemaAsync(path);
            using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
            connection.Open();
            Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
            var keys = CreateSessions(connection, sessions);
            var time = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

            var stopwatch = Stopwatch.StartNew();
            using (var transaction = connection.BeginTransaction())
            using (var insert = connection.CreateCommand())
            {
                insert.Transaction = transaction;
                insert.CommandText = "INSERT INTO SessionEvents (SessionKey, Seq, Time, Direction, Type, Actor, Payload, Size) VALUES ($k, $s, $t, $d, $y, $a, $p, $z)";
                var k = insert.Parameters.Add("$k", SqliteType.Integer);
                var s = insert.Parameters.Add("$s", SqliteType.Integer);
                var t = insert.Parameters.Add("$t", SqliteType.Integer);
                var d = insert.Parameters.Add("$d", SqliteType.Text);
                var y = insert.Parameters.Add("$y", SqliteType.Text);
                var a = insert.Parameters.Add("$a", SqliteType.Text);
                var p = insert.Parameters.Add("$p", SqliteType.Text);
                var z = insert.Parameters.Add("$z", SqliteType.Integer);
                for (var i = 0; i < events; i++)
                {
                    k.Value = keys[i % sessions];
                    s.Value = i / sessions + 1;
                    t.Value = time;
                    var (type, direction, payload) = payloads[i % payloads.Length];
                    d.Value = direction;
                    y.Value = type;
                    a.Value = EventActors.Agent;
                    p.Value = payload;
                    z.Value = payload.Length;
                    insert.ExecuteNonQuery();
                }
                transaction.Commit();
            }
            return events / stopwatch.Elapsed.TotalSeconds;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            folder.Delete(recursive: true);
        }
    }

    private static async Task<double> BusAsync(int events, int sessions, int producers, (string Type, string Direction, string Payload)[] payloads)
    {
        var folder = Directory.CreateTempSubdirectory("portal-bench-bus-");
        try
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Portal:Sessions:DatabasePath"] = Path.Combine(folder.FullName, "portal.db"),
            });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.AddSessions();
            using var host = builder.Build();
            await host.StartAsync();
            var bus = host.Services.GetRequiredService<ISessionBus>();
            var ids = new List<string>();
            for (var i = 0; i < sessions; i++)
            {
                ids.Add((await bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, "bench"), CancellationToken.None)).Id);
            }
            var items = payloads.Select(p => new NewSessionEvent(p.Direction, p.Type, EventActors.Agent, p.Payload)).ToArray();

            var stopwatch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, producers).Select(producer => Task.Run(async () =>
            {
                for (var i = producer; i < events; i += producers)
                {
                    await bus.AppendAsync(ids[i % sessions], items[i % items.Length], CancellationToken.None);
                }
            })));
            foreach (var id in ids)
            {
                await bus.WaitUntilDurableAsync(id, CancellationToken.None);
            }
            var rate = events / stopwatch.Elapsed.TotalSeconds;

            await host.StopAsync();
            Verify(Path.Combine(folder.FullName, "portal.db"), events);
            return rate;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            folder.Delete(recursive: true);
        }
    }

    private static void Verify(string path, int expected)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM SessionEvents";
        var stored = Convert.ToInt32(count.ExecuteScalar(), CultureInfo.InvariantCulture);
        if (stored != expected)
        {
            throw new InvalidOperationException($"{stored} events stored, {expected} appended.");
        }
    }

    private static async Task CreateSchemaAsync(string path)
    {
        var options = new DbContextOptionsBuilder<PortalDbContext>().UseSqlite($"Data Source={path};Pooling=False").Options;
        await using var db = new PortalDbContext(options);
        await db.Database.MigrateAsync();
    }

    private static List<long> CreateSessions(SqliteConnection connection, int count)
    {
        var keys = new List<long>();
        using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO Sessions (Id, Kind, Status, CreatedAt, LastActivityAt, EventCount) VALUES ($id, 'agent', 'active', 0, 0, 0) RETURNING Key";
        var id = insert.Parameters.Add("$id", SqliteType.Text);
        for (var i = 0; i < count; i++)
        {
            id.Value = Guid.NewGuid().ToString("N");
            keys.Add(Convert.ToInt64(insert.ExecuteScalar(), CultureInfo.InvariantCulture));
        }
        return keys;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string SqliteVersion()
    {
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        return connection.ServerVersion;
    }
}
