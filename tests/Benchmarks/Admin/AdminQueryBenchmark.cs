using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Portal.Sessions;
using static Portal.Benchmarks.CommandLine;

namespace Portal.Benchmarks.Admin;

/// <summary>
/// The admin pages' queries at scale: a database of 100,000 sessions and 10,000,000 events (<see cref="AdminData"/>),
/// then each query of the sessions grid (a 25-row page and the total, through Portal's own <see cref="ISessionStore"/>)
/// and of the detail page of a session with 100,000 events, timed over several runs.
/// </summary>
internal static class AdminQueryBenchmark
{
    private static readonly string[] SummaryTypes =
        [EventTypes.ApprovalRequest, EventTypes.ApprovalDecision, EventTypes.ResponseItem, EventTypes.ToolOutput, "agent_finished", EventTypes.SessionEnded, "proxy_stats"];

    public static async Task<int> RunAsync(string[] args)
    {
        var sessions = Option(args, "--sessions", 100_000);
        var events = Option(args, "--events", 10_000_000);
        var runs = Option(args, "--runs", 15);
        var keep = TextOption(args, "--db");
        var folder = keep is null ? Directory.CreateTempSubdirectory("portal-bench-admin-").FullName : Path.GetDirectoryName(Path.GetFullPath(keep))!;
        var path = keep is null ? Path.Combine(folder, "portal.db") : Path.GetFullPath(keep);
        var data = new AdminData();
        try
        {
            Console.WriteLine($"Admin queries: {Environment.ProcessorCount} cores, .NET {Environment.Version}");
            if (!File.Exists(path))
            {
                Console.WriteLine($"Filling {path} with {sessions:N0} sessions and {events:N0} events...");
                await AdminData.CreateSchemaAsync(path);
                data.Fill(path, sessions, events);
            }
            else
            {
                Console.WriteLine($"Reusing {path}");
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Database: {Count(path, "Sessions"):N0} sessions, {Count(path, "SessionEvents"):N0} events, " +
                $"{Count(path, "SessionSearch"):N0} rows in the full-text index, {new FileInfo(path).Length / 1048576.0:N0} MiB"));

            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Portal:Sessions:DatabasePath"] = path });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            if (args.Contains("--sql"))
            {
                // Every statement EF Core sends, to read with EXPLAIN QUERY PLAN.
                builder.Logging.AddSimpleConsole().AddFilter("Microsoft.EntityFrameworkCore.Database.Command", LogLevel.Information);
            }
            builder.AddSessions();
            using var host = builder.Build();
            await host.StartAsync();
            var store = host.Services.GetRequiredService<ISessionStore>();

            var oldest = (await store.ListAsync(new SessionQuery { PageSize = 1, Sort = SessionSort.Created, Descending = false }, default)).Items[0].CreatedAt;
            var week = oldest.AddDays(90);
            var page = new SessionQuery { PageSize = 25 };
            var grid = new (string Name, SessionQuery Query)[]
            {
                ("first page, newest activity first", page),
                ("kind chat + status ended", page with { Kind = SessionKinds.Chat, Status = SessionStatuses.Ended }),
                ("sorted by events, most first", page with { Sort = SessionSort.EventCount }),
                ($"text search, rare word ({data.Word(4000)})", page with { Text = data.Word(4000) }),
                ($"text search, common word ({data.Word(30)})", page with { Text = data.Word(30) }),
                ("date range, one week", page with { From = week, To = week.AddDays(7) }),
                ("owner e-mail contains \"portal.test\"", page with { OwnerEmail = "portal.test" }),
                ("sorted by owner", page with { Sort = SessionSort.Owner, Descending = false }),
                ("sorted by title", page with { Sort = SessionSort.Title, Descending = false }),
                ("kind agent, sorted by events", page with { Kind = SessionKinds.Agent, Sort = SessionSort.EventCount }),
                ("page 400 (rows 9,976-10,000)", page with { Page = 400 }),
            };
            Console.WriteLine();
            Console.WriteLine($"Sessions grid: a 25-row page and its total, through SessionStore.ListAsync; p50 and max of {runs} runs after 2 warm-ups");
            Console.WriteLine();
            Console.WriteLine("| query | matching sessions | p50 | max |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var (name, query) in grid)
            {
                var total = 0;
                var times = await TimeAsync(runs, async () => total = (await store.ListAsync(query, default)).Total);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {total:N0} | {times.P50:0.0} ms | {times.Max:0.0} ms |"));
            }

            var big = await store.GetAsync(AdminData.BigSessionId, default);
            Console.WriteLine();
            Console.WriteLine($"Detail page of the session with {big?.EventCount:N0} events");
            Console.WriteLine();
            Console.WriteLine("| query | rows | p50 | max |");
            Console.WriteLine("|---|---:|---:|---:|");
            var detail = new (string Name, Func<Task<int>> Run)[]
            {
                ("timeline, newest 100 events", async () => (await store.ReadBackwardAsync(AdminData.BigSessionId, long.MaxValue, 100, null, default)).Count),
                ("timeline, 100 events from the middle", async () => (await store.ReadBackwardAsync(AdminData.BigSessionId, 50_000, 100, null, default)).Count),
                ("timeline filtered by type agent_finished, newest 100", async () => (await store.ReadBackwardAsync(AdminData.BigSessionId, long.MaxValue, 100, "agent_finished", default)).Count),
                ("tally of every event by type and direction", async () => (await store.TallyAsync(AdminData.BigSessionId, long.MaxValue, default)).Count),
                ("events of the summary panels' types (approvals, tools, usage, closes)", async () =>
                {
                    var n = 0;
                    await foreach (var _ in store.ReadOfTypesAsync(AdminData.BigSessionId, SummaryTypes, long.MaxValue, default))
                    {
                        n++;
                    }
                    return n;
                }),
            };
            foreach (var (name, run) in detail)
            {
                var rows = 0;
                var times = await TimeAsync(runs, async () => rows = await run());
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {rows:N0} | {times.P50:0.0} ms | {times.Max:0.0} ms |"));
            }

            // Last, as it changes the database: deleting one ordinary session with its events and its search text.
            var bus = host.Services.GetRequiredService<ISessionBus>();
            var victim = (await store.ListAsync(new SessionQuery { Kind = SessionKinds.Chat, PageSize = 1, Page = 1_000 }, default)).Items[0];
            var deleting = Stopwatch.StartNew();
            await bus.DeleteSessionAsync(victim.Id, default);
            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Deleting one session of {victim.EventCount:N0} events (and its rows of the full-text index): {deleting.Elapsed.TotalMilliseconds:0.0} ms"));
            await host.StopAsync();
            return 0;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            if (keep is null)
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static async Task<(double P50, double Max)> TimeAsync(int runs, Func<Task> query)
    {
        for (var i = 0; i < 2; i++)
        {
            await query();
        }
        var times = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            await query();
            times.Add(stopwatch.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return (times[times.Count / 2], times[^1]);
    }

    private static long Count(string path, string table)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False;Mode=ReadOnly");
        connection.Open();
        using var command = connection.CreateCommand();
        // The contentless full-text table counts its rows through its docsize shadow table.
        command.CommandText = table == "SessionSearch" ? "SELECT count(*) FROM SessionSearch_docsize" : $"SELECT count(*) FROM {table}";
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }
}
