using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.IntegrationTests.Faults;

/// <summary>
/// The database stops taking writes for a while (another connection holds an exclusive lock; the disk is full): appends
/// go on into the writer's queue, the fault is reported (health degraded, status page, a warning), and once the
/// database takes writes again every event that was accepted is stored, gap-free, and delivered in order. When the
/// queue fills, appends wait (backpressure) and a client whose frame waits too long is closed with 1013.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class StorageFaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DatabaseLockedElsewhere_AppendsGoOn_FaultIsReported_EverythingIsStoredAndDeliveredOnceTheLockGoes()
    {
        var logs = new LogCapture();
        await using var portal = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Sessions:WriterBusyTimeout"] = "00:00:01",
            ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.030",
        }, configure: b => b.Logging.AddProvider(logs));
        var bus = portal.Services.GetRequiredService<ISessionBus>();
        using var admin = await portal.SignInAsync(PortalTestServer.AdminEmail);
        var cookies = await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail);
        await using var client = await AgentSocketClient.ConnectAsync(portal, cookies);
        await client.SendInputAsync(string.Join(' ', Enumerable.Range(0, 120).Select(i => $"word{i}")));
        await client.WaitForAsync("response_delta");
        var finishing = client.WaitForAsync("agent_finished", timeout: TimeSpan.FromSeconds(60));
        await using var producers = await Producers.StartAsync(bus, sessions: 3);
        await Task.Delay(300, Ct);

        long acceptedWhileLocked;
        using (var locker = LockExclusively(Path.Combine(portal.Folder, "portal.db")))
        {
            var lockedAt = producers.Accepted;
            var degraded = await ReadyAsync(admin, "Degraded", TimeSpan.FromSeconds(10));
            Assert.Contains("database is locked", degraded, StringComparison.Ordinal);
            var status = await admin.GetFromJsonAsync<JsonElement>("/api/admin/status", Ct);
            Assert.True(status.GetProperty("writerFailing").GetBoolean());
            Assert.Contains("database is locked", status.GetProperty("writerError").GetString(), StringComparison.Ordinal);
            await Task.Delay(1_000, Ct);
            acceptedWhileLocked = producers.Accepted - lockedAt;
            Execute(locker, "ROLLBACK");
        }
        await producers.StopAsync();

        await ReadyAsync(admin, "Healthy", TimeSpan.FromSeconds(15));
        Assert.True(acceptedWhileLocked > 0, "No append was accepted while the database was locked.");
        Assert.True(logs.Contains(LogLevel.Warning, "database is locked"), "The failed writes were not logged as a warning.");
        await producers.AssertAllStoredAsync(portal);
        var finished = await finishing;
        Assert.Equal("completed", finished.Text("status"));
        await bus.WaitUntilDurableAsync(client.SessionId!, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var delivered = client.Received.Skip(1).Select(f => f.Seq).ToList();
        var outgoing = (await bus.ReadAsync(client.SessionId!, 0, 10_000, Ct)).Where(e => e.Direction == EventDirections.Out && e.Seq <= finished.Seq).Select(e => e.Seq);
        Assert.Equal(outgoing, delivered); // every frame, in order, once
        TestContext.Current.TestOutputHelper?.WriteLine($"{producers.Accepted} events appended by 3 producers, {acceptedWhileLocked} of them while the database was locked; all stored.");
    }

    [Fact]
    public async Task WriterQueueFull_AppendsWait_AClientWaitingLongerThanTheTimeoutGets1013_NothingAcceptedIsLost()
    {
        var logs = new LogCapture();
        await using var portal = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Sessions:WriterQueueCapacity"] = "16",
            ["Portal:Sessions:WriterBusyTimeout"] = "00:00:01",
            ["Portal:Sessions:AppendTimeout"] = "00:00:01.500",
        }, configure: b => b.Logging.AddProvider(logs));
        var bus = portal.Services.GetRequiredService<ISessionBus>();
        using var admin = await portal.SignInAsync(PortalTestServer.AdminEmail);
        var cookies = await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail);
        await using var client = await AgentSocketClient.ConnectAsync(portal, cookies);
        var session = await bus.CreateSessionAsync(new NewSession(SessionKinds.Hub, null), Ct);

        Task producing;
        using (var locker = LockExclusively(Path.Combine(portal.Folder, "portal.db")))
        {
            var accepted = 0;
            producing = Task.Run(async () =>
            {
                for (var i = 0; i < 200; i++)
                {
                    await bus.AppendAsync(session.Id, Event(i), Ct);
                    Interlocked.Increment(ref accepted);
                }
            }, Ct);
            // The queue fills, then the producer waits for room instead of dropping anything.
            var stalled = Stopwatch.StartNew();
            var last = -1;
            while (Volatile.Read(ref accepted) != last || stalled.Elapsed < TimeSpan.FromSeconds(1))
            {
                if (Volatile.Read(ref accepted) != last)
                {
                    last = Volatile.Read(ref accepted);
                    stalled.Restart();
                }
                Assert.False(producing.IsCompleted, "All 200 appends went through a full queue while the database was locked.");
                await Task.Delay(50, Ct);
            }
            Assert.InRange(last, 16, 199);
            var degraded = await ReadyAsync(admin, "Degraded", TimeSpan.FromSeconds(10));
            Assert.Contains("nothing is dropped", degraded, StringComparison.Ordinal);
            Assert.True(logs.Contains(LogLevel.Warning, "queue is full"), "The full queue was not logged as a warning.");

            // A client's frame waits for room too, and is refused with 1013 when that takes longer than AppendTimeout.
            await client.SendAsync("get_context_info");
            Assert.Equal((WebSocketCloseStatus)1013, await client.WaitForCloseAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal("Session log busy; try again later", client.CloseReason);
            Execute(locker, "ROLLBACK");
        }
        await producing.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await bus.WaitUntilDurableAsync(session.Id, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await ReadyAsync(admin, "Healthy", TimeSpan.FromSeconds(15));

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), StoredSeqs(portal, session.Id));
        // The refused frame was neither recorded nor acted on; how the connection ended was.
        await WaitForAsync(async () => (await bus.ReadAsync(client.SessionId!, 0, 100, Ct)).Any(e => e.Type == "client_detached"), TimeSpan.FromSeconds(10));
        var log = await bus.ReadAsync(client.SessionId!, 0, 100, Ct);
        Assert.DoesNotContain(log, e => e.Type is "get_context_info" or "context_info");
        Assert.Contains("1013", log.Single(e => e.Type == "client_detached").Payload, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DiskFull_AppendsGoOn_FaultIsReported_EverythingIsStoredAndDeliveredOnceThereIsSpace()
    {
        await using var disk = await SmallDisk.MountAsync(megabytes: 24);
        var logs = new LogCapture();
        var portal = await PortalTestServer.StartAsync(new() { ["Portal:Sessions:WriterBusyTimeout"] = "00:00:01" },
            configure: b => b.Logging.AddProvider(logs), folder: disk.Folder);
        try
        {
            var bus = portal.Services.GetRequiredService<ISessionBus>();
            using var admin = await portal.SignInAsync(PortalTestServer.AdminEmail);
            await using var producers = await Producers.StartAsync(bus, sessions: 3, payloadBytes: 2_048);
            var delivered = new List<long>();
            using var following = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var follower = Task.Run(async () =>
            {
                await foreach (var e in bus.SubscribeAsync(producers.SessionIds[0], 0, following.Token))
                {
                    lock (delivered)
                    {
                        delivered.Add(e.Seq);
                    }
                }
            }, Ct);
            await Task.Delay(300, Ct);

            var filler = disk.Fill();
            var degraded = await ReadyAsync(admin, "Degraded", TimeSpan.FromSeconds(20));
            Assert.Contains("full", degraded, StringComparison.Ordinal);
            var status = await admin.GetFromJsonAsync<JsonElement>("/api/admin/status", Ct);
            Assert.Contains("full", status.GetProperty("writerError").GetString(), StringComparison.Ordinal);
            var fullAt = producers.Accepted;
            await Task.Delay(1_000, Ct);
            var acceptedWhileFull = producers.Accepted - fullAt;
            File.Delete(filler);
            await producers.StopAsync();

            await ReadyAsync(admin, "Healthy", TimeSpan.FromSeconds(20));
            Assert.True(acceptedWhileFull > 0, "No append was accepted while the disk was full.");
            Assert.True(logs.Contains(LogLevel.Warning, "full"), "The failed writes were not logged as a warning.");
            await producers.AssertAllStoredAsync(portal);
            var last = await bus.GetLastSeqAsync(producers.SessionIds[0], Ct);
            await WaitForAsync(() =>
            {
                lock (delivered)
                {
                    return Task.FromResult(delivered.Count >= last);
                }
            }, TimeSpan.FromSeconds(20));
            await following.CancelAsync();
            await follower.ContinueWith(_ => { }, TaskScheduler.Default);
            Assert.Equal(Enumerable.Range(1, (int)last).Select(i => (long)i), delivered); // in order, once, nothing missing
            TestContext.Current.TestOutputHelper?.WriteLine($"{producers.Accepted} events appended, {acceptedWhileFull} of them while the disk was full; all stored.");
        }
        finally
        {
            await portal.DisposeAsync();
        }
    }

    private static NewSessionEvent Event(int n, int padding = 0) =>
        new(EventDirections.In, "test", EventActors.User, JsonSerializer.Serialize(new { n, pad = new string('x', padding) }));

    /// <summary>Another connection takes the write lock (in WAL mode EXCLUSIVE keeps writers out; readers go on).</summary>
    private static SqliteConnection LockExclusively(string path)
    {
        var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        Execute(connection, "BEGIN EXCLUSIVE");
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static List<long> StoredSeqs(PortalTestServer portal, string sessionId)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(portal.Folder, "portal.db")};Pooling=False;Mode=ReadOnly");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT e.Seq FROM SessionEvents e JOIN Sessions s ON s.Key = e.SessionKey WHERE s.Id = $id ORDER BY e.Seq";
        command.Parameters.AddWithValue("$id", sessionId);
        using var reader = command.ExecuteReader();
        var seqs = new List<long>();
        while (reader.Read())
        {
            seqs.Add(reader.GetInt64(0));
        }
        return seqs;
    }

    /// <summary>Polls <c>/health/ready</c> until the database check reports <paramref name="status"/>; returns its description.</summary>
    private static async Task<string> ReadyAsync(HttpClient http, string status, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        var last = "";
        while (deadline.Elapsed < within)
        {
            using var response = await http.GetAsync("/health/ready", Ct);
            var check = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("checks").GetProperty("database");
            last = $"{check.GetProperty("status").GetString()}: {check.GetProperty("description").GetString()}";
            if (check.GetProperty("status").GetString() == status)
            {
                return check.GetProperty("description").GetString() ?? "";
            }
            await Task.Delay(100, Ct);
        }
        throw new TimeoutException($"/health/ready did not report {status} within {within}; last: {last}");
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(deadline.Elapsed < within, $"Not so within {within}.");
            await Task.Delay(50, Ct);
        }
    }

    /// <summary>Tasks appending to sessions of their own, one event every few milliseconds, counting what was accepted.</summary>
    private sealed class Producers : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly ISessionBus _bus;
        private readonly List<Task> _tasks = [];
        private long _accepted;

        private Producers(ISessionBus bus, List<string> sessionIds)
        {
            _bus = bus;
            SessionIds = sessionIds;
        }

        public List<string> SessionIds { get; }
        public long Accepted => Interlocked.Read(ref _accepted);

        public static async Task<Producers> StartAsync(ISessionBus bus, int sessions, int payloadBytes = 64)
        {
            var ids = new List<string>();
            for (var i = 0; i < sessions; i++)
            {
                ids.Add((await bus.CreateSessionAsync(new NewSession(SessionKinds.Hub, null), Ct)).Id);
            }
            var producers = new Producers(bus, ids);
            foreach (var id in ids)
            {
                producers._tasks.Add(Task.Run(() => producers.ProduceAsync(id, payloadBytes), Ct));
            }
            return producers;
        }

        private async Task ProduceAsync(string sessionId, int payloadBytes)
        {
            for (var n = 0; !_stop.IsCancellationRequested; n++)
            {
                await _bus.AppendAsync(sessionId, Event(n, payloadBytes), CancellationToken.None);
                Interlocked.Increment(ref _accepted);
                await Task.Delay(2, CancellationToken.None);
            }
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        }

        /// <summary>Every seq each session handed out is in the database file, once, gap-free.</summary>
        public async Task AssertAllStoredAsync(PortalTestServer portal)
        {
            long total = 0;
            foreach (var id in SessionIds)
            {
                await _bus.WaitUntilDurableAsync(id, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
                var last = await _bus.GetLastSeqAsync(id, Ct);
                Assert.Equal(Enumerable.Range(1, (int)last).Select(i => (long)i), StoredSeqs(portal, id));
                total += last;
            }
            Assert.Equal(Accepted, total);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_tasks).ContinueWith(_ => { }, TaskScheduler.Default);
            _stop.Dispose();
        }
    }
}
