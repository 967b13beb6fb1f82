using System.Diagnostics;
using System.Net.WebSockets;
using Microsoft.Data.Sqlite;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Faults;

/// <summary>
/// Kill -9 durability (docs/durability.md): the built Portal.dll in a process of its own streams 100 agent sessions from
/// a fake OpenAI server on loopback, with the durable writer busy (about 5,000 events a second), and is killed with
/// SIGKILL mid-stream. The guarantee under test: every frame a client received before the kill is in the database,
/// exactly as it was sent; the database opens cleanly; the cut-off runs are closed as interrupted (an event and the
/// session's status); and a client that resumes from its last seq sees the rest of the log, with no gap and no duplicate.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class KillTests
{
    private const int Sessions = 100;
    private const int DeltasBeforeKill = 25;
    private const string AdminEmail = "faults@portal.test";
    private const string AdminPassword = "Faults-passw0rd!";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static ITestOutputHelper Output => TestContext.Current.TestOutputHelper!;

    [Fact]
    public async Task KillDashNine_While100SessionsStream_EveryFrameAClientSawIsStored_CutOffRunsAreInterrupted_ResumeIsGapFree()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(4));
        var ct = timeout.Token;
        await using var model = await FakeOpenAiServer.StartAsync();
        model.RequireApiKey = false;
        // 3,000 tokens at 50 a second: every stream is still running when Portal is killed.
        model.DefaultScript = ModelScript.Text(Enumerable.Range(0, 3_000).Select(i => $"t{i} ").ToArray()) with { ChunkDelay = TimeSpan.FromMilliseconds(20) };
        var folder = Directory.CreateTempSubdirectory("portal-kill-").FullName;
        var settings = new Dictionary<string, string>
        {
            ["PROVIDER"] = "openai",
            ["MODEL"] = "gpt-test",
            ["OPENAI_BASE_URL"] = new Uri(model.BaseAddress, "/v1").ToString(),
        };
        PortalProcess? portal = null;
        try
        {
            portal = await StartPortalAsync(folder, settings, ct);
            var cookies = await AgentSocketClient.SignInAsync(portal.BaseAddress, AdminEmail, AdminPassword);
            var clients = new List<AgentSocketClient>();
            foreach (var batch in Enumerable.Range(0, Sessions).Chunk(10))
            {
                clients.AddRange(await Task.WhenAll(batch.Select(_ => AgentSocketClient.ConnectAsync(portal.BaseAddress, cookies))));
            }
            await Task.WhenAll(clients.Select(c => c.SendInputAsync("stream a long answer")));
            var deltas = new int[Sessions];
            var readers = clients.Select((c, i) => ReadUntilGoneAsync(c, () => Interlocked.Increment(ref deltas[i]))).ToArray();
            var streaming = Stopwatch.StartNew();
            while (Enumerable.Range(0, Sessions).Any(i => Volatile.Read(ref deltas[i]) < DeltasBeforeKill))
            {
                Assert.True(streaming.Elapsed < TimeSpan.FromSeconds(60),
                    $"Not every session streamed {DeltasBeforeKill} deltas within 60 s: {string.Join(",", deltas)}\n{portal.Output}");
                await Task.Delay(20, ct);
            }

            await portal.KillAsync();
            var killedAfter = streaming.Elapsed;
            await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(30), ct);

            // What each client was shown before the kill: every frame carries the seq of its event.
            var seen = clients.ToDictionary(c => c.SessionId!, c => c.Received.Where(f => f.Type != "session_started").ToList());
            var acknowledged = seen.Values.Sum(f => f.Count);
            Dictionary<string, SortedDictionary<long, StoredEvent>> stored;
            SqliteConnection.ClearAllPools();
            using (var db = Open(portal.DatabasePath))
            {
                Assert.Equal("ok", Scalar(db, "PRAGMA integrity_check"));
                stored = seen.Keys.ToDictionary(id => id, id => Events(db, id));
            }
            var lost = new List<string>();
            foreach (var (sessionId, frames) in seen)
            {
                var events = stored[sessionId];
                Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Keys); // a gap-free prefix of the log
                foreach (var frame in frames)
                {
                    if (!events.TryGetValue(frame.Seq, out var e) || e.Type != frame.Type || e.Payload != frame.Payload.GetRawText())
                    {
                        lost.Add($"{sessionId}-{frame.Seq} {frame.Type}");
                    }
                }
            }
            Output.WriteLine($"Killed after {killedAfter.TotalSeconds:0.0} s of streaming: {Sessions} sessions, {acknowledged} frames acknowledged " +
                $"to clients, {stored.Values.Sum(e => e.Count)} events stored, {lost.Count} acknowledged frames missing.");
            Assert.True(lost.Count == 0, $"{lost.Count} frames a client received are not in the database: {string.Join(", ", lost.Take(20))}");

            await portal.DisposeAsync();
            portal = await StartPortalAsync(folder, settings, ct);

            // Each cut-off run is closed, visibly: loading_state false, agent_finished interrupted; the session says interrupted.
            using (var db = Open(portal.DatabasePath))
            {
                foreach (var sessionId in seen.Keys)
                {
                    Assert.Equal("interrupted", Scalar(db, "SELECT Status FROM Sessions WHERE Id = $id", sessionId));
                    var events = Events(db, sessionId).Values.ToList();
                    Assert.Equal(("loading_state", "out"), (events[^2].Type, events[^2].Direction));
                    Assert.Equal(("agent_finished", "out"), (events[^1].Type, events[^1].Direction));
                    Assert.Contains("\"status\":\"interrupted\"", events[^1].Payload, StringComparison.Ordinal);
                }
            }

            // Resuming from the last seq each client saw: the rest of the log, in order, nothing twice, nothing missing.
            cookies = await AgentSocketClient.SignInAsync(portal.BaseAddress, AdminEmail, AdminPassword);
            var resumed = 0;
            foreach (var batch in clients.Chunk(10))
            {
                await Task.WhenAll(batch.Select(async client =>
                {
                    var sessionId = client.SessionId!;
                    var before = seen[sessionId];
                    var afterSeq = before.Count > 0 ? before[^1].Seq : 1;
                    await using var again = await AgentSocketClient.ConnectAsync(portal.BaseAddress, cookies, $"sessionId={sessionId}&afterSeq={afterSeq}");
                    var finished = await again.WaitForAsync("agent_finished", timeout: TimeSpan.FromSeconds(30));
                    Assert.Equal("interrupted", finished.Text("status"));
                    Assert.Equal($"{sessionId}-{afterSeq}", again.Received[0].Id);
                    var delivered = before.Concat(again.Received.Skip(1)).Select(f => f.Seq).ToList();
                    List<long> outgoing;
                    using (var db = Open(portal.DatabasePath))
                    {
                        outgoing = Events(db, sessionId).Where(e => e.Value.Direction == "out").Select(e => e.Key).ToList();
                    }
                    Assert.Equal(outgoing, delivered);
                    Interlocked.Increment(ref resumed);
                }));
            }
            Assert.Equal(Sessions, resumed);
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
        finally
        {
            if (portal is not null)
            {
                await portal.DisposeAsync();
            }
            SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// The built Portal.dll in a process of its own, ready, with its database in <paramref name="folder"/>, an
    /// administrator, warnings and up kept in <see cref="PortalProcess.Output"/>, and no limits (the test loads Portal
    /// from one user and one address far past what Portal:Limits lets a client do).
    /// </summary>
    private static Task<PortalProcess> StartPortalAsync(string folder, Dictionary<string, string> settings, CancellationToken cancellationToken) =>
        PortalProcess.StartAsync(new PortalProcessOptions
        {
            Folder = folder,
            Settings = settings,
            LogLevel = "Warning",
            Admin = (AdminEmail, AdminPassword),
            LimitsOff = true,
        }, cancellationToken);

    /// <summary>Reads frames into <see cref="AgentSocketClient.Received"/> until the connection is gone.</summary>
    private static async Task ReadUntilGoneAsync(AgentSocketClient client, Action onDelta)
    {
        try
        {
            while (await client.ReceiveAsync(CancellationToken.None) is { } frame)
            {
                if (frame.Type == "response_delta")
                {
                    onDelta();
                }
            }
        }
        catch (WebSocketException)
        {
            // the process was killed: the connection was reset
        }
    }

    private sealed record StoredEvent(string Type, string Direction, string Payload);

    private static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        return connection;
    }

    private static string? Scalar(SqliteConnection db, string sql, string? id = null)
    {
        using var command = db.CreateCommand();
        command.CommandText = sql;
        if (id is not null)
        {
            command.Parameters.AddWithValue("$id", id);
        }
        return command.ExecuteScalar()?.ToString();
    }

    private static SortedDictionary<long, StoredEvent> Events(SqliteConnection db, string sessionId)
    {
        using var command = db.CreateCommand();
        command.CommandText = "SELECT e.Seq, e.Type, e.Direction, e.Payload FROM SessionEvents e JOIN Sessions s ON s.Key = e.SessionKey WHERE s.Id = $id ORDER BY e.Seq";
        command.Parameters.AddWithValue("$id", sessionId);
        using var reader = command.ExecuteReader();
        var events = new SortedDictionary<long, StoredEvent>();
        while (reader.Read())
        {
            events[reader.GetInt64(0)] = new StoredEvent(reader.GetString(1), reader.GetString(2), reader.GetString(3));
        }
        return events;
    }
}
