using Microsoft.Data.Sqlite;
using Portal.Sessions;

namespace Portal.Tests.Sessions;

public sealed class SessionBusTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Append_ToOneSession_AssignsDenseSeqsFromOne()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var session = await harness.NewSessionAsync();

        var seqs = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            seqs.Add((await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(i), Ct)).Seq);
        }

        Assert.Equal([1, 2, 3, 4, 5], seqs);
    }

    [Fact]
    public async Task Append_SeqsArePerSession_EachSessionStartsAtOne()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var a = await harness.NewSessionAsync();
        var b = await harness.NewSessionAsync();

        await harness.Bus.AppendAsync(a.Id, SessionsHarness.Event(1), Ct);
        await harness.Bus.AppendAsync(a.Id, SessionsHarness.Event(2), Ct);
        var first = await harness.Bus.AppendAsync(b.Id, SessionsHarness.Event(3), Ct);

        Assert.Equal(1, first.Seq);
    }

    [Fact]
    public async Task Append_ManyConcurrentAppenders_SeqsNeverCollideAndAllAreStored()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var session = await harness.NewSessionAsync();
        const int appenders = 16, each = 400;

        var results = await Task.WhenAll(Enumerable.Range(0, appenders).Select(a => Task.Run(async () =>
        {
            var mine = new List<long>();
            for (var i = 0; i < each; i++)
            {
                mine.Add((await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(a * each + i), Ct)).Seq);
            }
            return mine;
        }, Ct)));
        await harness.Bus.WaitUntilDurableAsync(session.Id, Ct);

        var all = results.SelectMany(r => r).Order().ToList();
        Assert.Equal(Enumerable.Range(1, appenders * each).Select(i => (long)i), all);
        Assert.All(results, r => Assert.Equal(r.Order(), r)); // each appender saw increasing seqs
        Assert.Equal(all, harness.StoredSeqs(session.Id));
    }

    [Fact]
    public async Task Subscribe_LateSubscribersWhileAppendsRace_SeeEverySeqOnceInOrder()
    {
        await using var harness = await SessionsHarness.StartAsync(new() { ["Portal:Sessions:WriterMaxBatch"] = "64" });
        var session = await harness.NewSessionAsync();
        const int appenders = 8, each = 500, total = appenders * each;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        stop.CancelAfter(TimeSpan.FromSeconds(60));

        var appending = Task.WhenAll(Enumerable.Range(0, appenders).Select(a => Task.Run(async () =>
        {
            for (var i = 0; i < each; i++)
            {
                await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(i), stop.Token);
                if (i % 50 == 0)
                {
                    await Task.Yield();
                }
            }
        }, stop.Token)));

        // Subscribers join at different moments and from different seqs, while events are still arriving.
        var subscribers = new List<Task<(long After, List<long> Seen)>>();
        var random = new Random(42);
        for (var s = 0; s < 12; s++)
        {
            await Task.Delay(random.Next(0, 15), stop.Token);
            var current = await harness.Bus.GetLastSeqAsync(session.Id, stop.Token);
            var after = s % 3 == 0 ? 0 : random.NextInt64(0, current + 1);
            subscribers.Add(Task.Run(async () =>
            {
                var seen = new List<long>();
                await foreach (var e in harness.Bus.SubscribeAsync(session.Id, after, stop.Token))
                {
                    seen.Add(e.Seq);
                    if (e.Seq == total)
                    {
                        break;
                    }
                }
                return (after, seen);
            }, stop.Token));
        }
        await appending;
        var results = await Task.WhenAll(subscribers);

        Assert.All(results, r => Assert.Equal(Enumerable.Range((int)r.After + 1, total - (int)r.After).Select(i => (long)i), r.Seen));
    }

    [Fact]
    public async Task Subscribe_ReaderFallsFarBehind_CatchesUpFromStoreWithoutGaps()
    {
        await using var harness = await SessionsHarness.StartAsync(new() { ["Portal:Sessions:SubscriberBuffer"] = "16" });
        var session = await harness.NewSessionAsync();
        await using var subscription = harness.Bus.SubscribeAsync(session.Id, 0, Ct).GetAsyncEnumerator(Ct);
        await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(0), Ct);
        Assert.True(await subscription.MoveNextAsync());

        // 500 events arrive while the reader is not reading: far more than its 16-event buffer.
        for (var i = 1; i <= 500; i++)
        {
            await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(i), Ct);
        }
        var seen = new List<long> { subscription.Current.Seq };
        while (seen[^1] < 501 && await subscription.MoveNextAsync())
        {
            seen.Add(subscription.Current.Seq);
        }

        Assert.Equal(Enumerable.Range(1, 501).Select(i => (long)i), seen);
    }

    [Fact]
    public async Task Subscribe_UnknownSession_Throws()
    {
        await using var harness = await SessionsHarness.StartAsync();

        await Assert.ThrowsAsync<SessionNotFoundException>(async () =>
        {
            await foreach (var _ in harness.Bus.SubscribeAsync("0123456789abcdef0123456789abcdef", 0, Ct))
            {
            }
        });
    }

    [Fact]
    public async Task Read_AfterAndLimit_ReturnsThatWindowIncludingNotYetDurableEvents()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var session = await harness.NewSessionAsync();
        for (var i = 1; i <= 20; i++)
        {
            await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(i), Ct);
        }

        var window = await harness.Bus.ReadAsync(session.Id, 5, 10, Ct);

        Assert.Equal(Enumerable.Range(6, 10).Select(i => (long)i), window.Select(e => e.Seq));
        Assert.Equal("""{"n":6}""", window[0].Payload);
    }

    [Fact]
    public async Task Restart_AppendsContinueAfterTheStoredSeq()
    {
        var harness = await SessionsHarness.StartAsync();
        var session = await harness.NewSessionAsync();
        for (var i = 0; i < 3; i++)
        {
            await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(i), Ct);
        }

        harness = await harness.RestartAsync();
        await using var _ = harness;
        var next = await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(3), Ct);

        Assert.Equal(4, next.Seq);
        await harness.Bus.WaitUntilDurableAsync(session.Id, Ct);
        Assert.Equal([1, 2, 3, 4], harness.StoredSeqs(session.Id));
    }

    [Fact]
    public async Task Stop_WithEventsStillQueued_FlushesEveryOne()
    {
        var harness = await SessionsHarness.StartAsync();
        var session = await harness.NewSessionAsync();
        for (var i = 0; i < 5_000; i++)
        {
            await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(i), Ct);
        }

        await harness.StopAsync();

        Assert.Equal(5_000, harness.StoredSeqs(session.Id).Count);
        await harness.DisposeAsync();
    }

    [Fact]
    public async Task Append_WhileTheDatabaseIsLockedAndTheQueueFull_WaitsThenStoresEverything()
    {
        await using var harness = await SessionsHarness.StartAsync(new()
        {
            ["Portal:Sessions:WriterQueueCapacity"] = "32",
            ["Portal:Sessions:WriterMaxBatch"] = "8",
        });
        var session = await harness.NewSessionAsync();

        // Another process holds the write lock: the writer cannot commit, its queue fills up.
        using (var blocker = new SqliteConnection($"Data Source={harness.DatabasePath};Pooling=False"))
        {
            blocker.Open();
            using (var begin = blocker.CreateCommand())
            {
                begin.CommandText = "BEGIN EXCLUSIVE";
                begin.ExecuteNonQuery();
            }
            var appending = Task.Run(async () =>
            {
                for (var i = 0; i < 200; i++)
                {
                    await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(i), Ct);
                }
            }, Ct);
            await Task.Delay(1_000, Ct);
            Assert.False(appending.IsCompleted, "Appends should wait while the writer's queue is full.");
            Assert.True(harness.Writer.Health.BackpressureWaits > 0);
            using var rollback = blocker.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            rollback.ExecuteNonQuery();
            await appending.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        }
        await harness.Bus.WaitUntilDurableAsync(session.Id, Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), harness.StoredSeqs(session.Id));
    }

    [Fact]
    public async Task Delete_WhileEventsAreQueued_OtherSessionsKeepBeingWritten()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var doomed = await harness.NewSessionAsync();
        var other = await harness.NewSessionAsync();
        for (var i = 0; i < 1_000; i++)
        {
            await harness.Bus.AppendAsync(doomed.Id, SessionsHarness.Event(i), Ct);
        }

        Assert.True(await harness.Bus.DeleteSessionAsync(doomed.Id, Ct));
        await harness.Bus.AppendAsync(other.Id, SessionsHarness.Event(1), Ct);
        await harness.Bus.WaitUntilDurableAsync(other.Id, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Empty(harness.StoredSeqs(doomed.Id));
        Assert.Equal([1], harness.StoredSeqs(other.Id));
        await Assert.ThrowsAsync<SessionNotFoundException>(() => harness.Bus.AppendAsync(doomed.Id, SessionsHarness.Event(2), Ct).AsTask());
    }

    [Fact]
    public async Task Append_PayloadWithSecrets_IsStoredRedacted()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var session = await harness.NewSessionAsync();

        var appended = await harness.Bus.AppendAsync(session.Id, new NewSessionEvent(EventDirections.In, "config", EventActors.User,
            """{"config":{"session":"projects/p/locations/l/apps/a/sessions/s","accessToken":"ya29.a0AfH6SMBsecretsecret"}}"""), Ct);
        await harness.Bus.WaitUntilDurableAsync(session.Id, Ct);
        var stored = (await harness.Bus.ReadAsync(session.Id, 0, 10, Ct)).Single();

        Assert.DoesNotContain("ya29", appended.Payload, StringComparison.Ordinal);
        Assert.DoesNotContain("ya29", stored.Payload, StringComparison.Ordinal);
        Assert.Contains("projects/p/locations/l/apps/a/sessions/s", stored.Payload, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_AfterACrash_RecountsTheEventsOfSessionsThatWereLive()
    {
        var harness = await SessionsHarness.StartAsync();
        // A hub session: agent and chat sessions are taken further by the agent runtime's recovery (idle again).
        var session = await harness.NewSessionAsync(SessionKinds.Hub);
        for (var i = 0; i < 9; i++)
        {
            await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(i), Ct);
        }
        await harness.StopAsync();
        // What a kill -9 under load can leave: the events are in, the session row's count lags behind them.
        using (var connection = new SqliteConnection($"Data Source={harness.DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var lag = connection.CreateCommand();
            lag.CommandText = "UPDATE Sessions SET EventCount = 3, Status = 'active'";
            lag.ExecuteNonQuery();
        }

        harness = await SessionsHarness.StartAsync(harness.Folder, null);
        await using var _ = harness;
        var recovered = await harness.Store.GetAsync(session.Id, Ct);

        Assert.Equal(9, recovered!.EventCount);
        Assert.Equal(SessionStatuses.Interrupted, recovered.Status);
    }

    [Fact]
    public async Task Append_UpdatesTheSessionsEventCountAndLastActivity()
    {
        await using var harness = await SessionsHarness.StartAsync();
        var session = await harness.NewSessionAsync();
        for (var i = 0; i < 7; i++)
        {
            await harness.Bus.AppendAsync(session.Id, SessionsHarness.Event(i), Ct);
        }
        await harness.Bus.WaitUntilDurableAsync(session.Id, Ct);

        var stored = await harness.Store.GetAsync(session.Id, Ct);

        Assert.Equal(7, stored!.EventCount);
        Assert.True(stored.LastActivityAt >= session.CreatedAt);
    }
}
