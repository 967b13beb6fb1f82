using Microsoft.Data.Sqlite;
using Portal.Sessions;

namespace Portal.Tests.Sessions;

public sealed class WriteAheadLogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>
    /// Under a load that never rests the writer commits during every checkpoint, so the WAL is never all copied and
    /// never starts over on its own: it grew with every event for as long as the load lasted (1.3 GB for 200,000 proxied
    /// frames in the record benchmark). Past WalRestartBytes the writer now starts it over between two batches, so it stays within that size and a batch.
    /// </summary>
    [Fact]
    public async Task SustainedAppends_KeepTheWalNearItsRestartSize()
    {
        const int limit = 1024 * 1024;
        await using var harness = await SessionsHarness.StartAsync(new()
        {
            ["Portal:Sessions:WalRestartBytes"] = limit.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var sessions = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            sessions.Add((await harness.NewSessionAsync()).Id);
        }
        var text = new string('x', 1000);
        var wal = new FileInfo(harness.DatabasePath + "-wal");
        var appended = 0L;
        var largest = 0L;
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        // At least 4 s of appends that never pause and at least 40 MiB of payload (without restarts the WAL holds all of
        // it), bounded at 200 MB whatever the machine's speed.
        while ((stopwatch.Elapsed < TimeSpan.FromSeconds(4) || appended * text.Length < 40L * limit) && appended < 200_000)
        {
            for (var i = 0; i < 200; i++)
            {
                var e = new NewSessionEvent(EventDirections.In, "test", EventActors.User, $$"""{"n":{{appended}},"text":"{{text}}"}""");
                await harness.Bus.AppendAsync(sessions[(int)(appended % sessions.Count)], e, Ct);
                appended++;
            }
            await Task.Yield();
            wal.Refresh();
            largest = Math.Max(largest, wal.Exists ? wal.Length : 0);
        }
        foreach (var id in sessions)
        {
            await harness.Bus.WaitUntilDurableAsync(id, Ct);
        }
        wal.Refresh();

        var payloadBytes = appended * 1000;
        // The bound is the limit plus what one batch (at most 4,096 events) writes; without restarts it passed 500 MiB.
        Assert.True(largest < 64 * limit, $"WAL file reached {largest / 1048576.0:0.0} MiB while {payloadBytes / 1048576} MiB were appended");
        Assert.True(harness.Writer.WalRestarts >= 2, $"{harness.Writer.WalRestarts} restarts while appending {payloadBytes / 1048576} MiB");
        Assert.Equal(appended, sessions.Sum(id => (long)harness.StoredSeqs(id).Count));
    }

    /// <summary>
    /// A reader on an old snapshot (an export going through a long log) keeps the WAL from being started over: the writer
    /// keeps writing meanwhile, tries again later, and starts it over once the reader is gone.
    /// </summary>
    [Fact]
    public async Task AReaderOnAnOldSnapshot_PutsTheRestartOffButNotTheWrites()
    {
        const int limit = 1024 * 1024;
        await using var harness = await SessionsHarness.StartAsync(new()
        {
            ["Portal:Sessions:WalRestartBytes"] = limit.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var session = await harness.NewSessionAsync();
        var text = new string('x', 1000);
        var appended = 0;
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bounded.CancelAfter(TimeSpan.FromSeconds(90)); // a writer that stopped writing fails the test instead of hanging it
        async Task AppendAsync(int count)
        {
            for (var i = 0; i < count; i++, appended++)
            {
                await harness.Bus.AppendAsync(session.Id, new NewSessionEvent(EventDirections.In, "test", EventActors.User, $$"""{"n":{{appended}},"text":"{{text}}"}"""), bounded.Token);
            }
            await harness.Bus.WaitUntilDurableAsync(session.Id, bounded.Token);
        }

        await using (var reader = new SqliteConnection($"Data Source={harness.DatabasePath};Pooling=False"))
        {
            reader.Open();
            using var snapshot = reader.BeginTransaction(deferred: true); // BEGIN, not BEGIN IMMEDIATE: a reader, not a writer
            using var read = reader.CreateCommand();
            read.Transaction = snapshot;
            read.CommandText = "SELECT count(*) FROM SessionEvents";
            read.ExecuteScalar(); // the read transaction now holds its snapshot

            await AppendAsync(8_000); // 8 MB: the WAL passes its 1 MiB limit and cannot be started over
            Assert.Equal(0, harness.Writer.WalRestarts);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (harness.Writer.WalRestarts == 0 && DateTime.UtcNow < deadline)
        {
            await AppendAsync(200);
        }
        Assert.True(harness.Writer.WalRestarts > 0, "the WAL was not started over once the reader had gone");
        Assert.Equal(appended, harness.StoredSeqs(session.Id).Count);
    }
}
