using System.Globalization;
using Microsoft.Data.Sqlite;
using Portal.Sessions;
using Portal.Sessions.Search;

namespace Portal.Tests.Sessions.Search;

/// <summary>
/// Under load the writer stores message text in the search backlog, in its event's transaction, and moves it into the
/// full-text index in bulk once it has waited <c>SearchIndexDelay</c>. Nothing may be lost on the way: not at the delay,
/// not when the host stops, not after a crash; and a deleted session's text must not come back.
/// </summary>
public sealed class SearchBacklogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // A long linger makes every burst one batch of at least DurableEventWriter.BusyBatch events, whatever the machine's speed.
    private static Dictionary<string, string?> Settings(string delay) => new()
    {
        ["Portal:Sessions:WriterLinger"] = "00:00:00.300",
        ["Portal:Sessions:SearchIndexDelay"] = delay,
    };

    [Fact]
    public async Task ABurst_IsIndexedInBulkOnceTheDelayHasPassed()
    {
        await using var harness = await SessionsHarness.StartAsync(Settings("00:00:00.500"));
        var sessions = await AppendBurstAsync(harness, "bulk", sessions: 5, each: 60);

        // Stored, and its text waiting in the backlog: searches do not see it yet.
        Assert.Equal(300, harness.Writer.SearchBacklog);
        Assert.Equal(300, BacklogRows(harness));
        Assert.Equal(0, Matches(harness, "bulk"));

        // Then indexed by the writer's own timer, with no further event to carry it.
        await WaitUntilAsync(() => harness.Writer.SearchBacklog == 0);
        Assert.Equal(300, Matches(harness, "bulk"));
        Assert.Equal(0, BacklogRows(harness));
        Assert.True(harness.Writer.SearchBacklogFlushes >= 1);
        var page = await harness.Store.ListAsync(new SessionQuery { Text = "bulk7" }, Ct);
        Assert.Equal(sessions.Order(), page.Items.Select(s => s.Id).Order());
    }

    [Fact]
    public async Task AQuietWriter_IndexesTextWithItsEvent()
    {
        await using var harness = await SessionsHarness.StartAsync(Settings("00:01:00"));
        var session = await harness.NewSessionAsync();

        await harness.Bus.AppendAsync(session.Id, Input("lonely words"), Ct);
        await harness.Bus.WaitUntilDurableAsync(session.Id, Ct);

        Assert.Equal(1, Matches(harness, "lonely"));
        Assert.Equal(0, BacklogRows(harness));
    }

    [Fact]
    public async Task AQuietBatchAfterABurst_TakesTheBacklogIntoTheIndex()
    {
        await using var harness = await SessionsHarness.StartAsync(Settings("00:01:00"));
        await AppendBurstAsync(harness, "early", sessions: 2, each: 40);
        Assert.Equal(80, BacklogRows(harness));

        var session = await harness.NewSessionAsync();
        await harness.Bus.AppendAsync(session.Id, Input("later"), Ct);
        await harness.Bus.WaitUntilDurableAsync(session.Id, Ct);

        Assert.Equal(80, Matches(harness, "early"));
        Assert.Equal(1, Matches(harness, "later"));
        Assert.Equal(0, BacklogRows(harness));
    }

    [Fact]
    public async Task Stopping_IndexesWhatWaits()
    {
        await using var harness = await SessionsHarness.StartAsync(Settings("00:01:00"));
        await AppendBurstAsync(harness, "stopping", sessions: 4, each: 25);
        Assert.Equal(100, BacklogRows(harness));

        await harness.StopAsync();

        Assert.Equal(0, BacklogRows(harness));
        Assert.Equal(100, Matches(harness, "stopping"));
    }

    [Fact]
    public async Task TextLeftInTheBacklogByACrash_IsIndexedAtTheNextStart()
    {
        await using var first = await SessionsHarness.StartAsync(Settings("00:01:00"));
        var sessions = await AppendBurstAsync(first, "crash", sessions: 2, each: 40);
        await first.StopAsync();
        // What a kill between the event's commit and the bulk indexing leaves: the text in the backlog, not in the index.
        Execute(first, $"INSERT INTO {SessionSearch.Backlog} (Row, Text) SELECT rowid, 'crash survivor' FROM {SessionSearch.Table} " +
            $"WHERE {SessionSearch.Table} MATCH 'crash' ORDER BY rowid & 4294967295 LIMIT 20; " +
            $"DELETE FROM {SessionSearch.Table} WHERE rowid IN (SELECT Row FROM {SessionSearch.Backlog});");
        Assert.Equal(20, BacklogRows(first));
        Assert.Equal(0, Matches(first, "survivor"));

        await using var second = await first.RestartAsync(Settings("00:01:00"));

        await WaitUntilAsync(() => BacklogRows(second) == 0);
        Assert.Equal(20, Matches(second, "survivor"));
        var page = await second.Store.ListAsync(new SessionQuery { Text = "survivor" }, Ct);
        Assert.Equal(sessions.Order(), page.Items.Select(s => s.Id).Order());
    }

    [Fact]
    public async Task DeletingASession_TakesItsWaitingTextWithIt()
    {
        await using var harness = await SessionsHarness.StartAsync(Settings("00:01:00"));
        var sessions = await AppendBurstAsync(harness, "doomed", sessions: 2, each: 40);
        Assert.Equal(80, BacklogRows(harness));

        Assert.True(await harness.Bus.DeleteSessionAsync(sessions[0], Ct));
        Assert.Equal(40, BacklogRows(harness));
        await harness.StopAsync();

        Assert.Equal(40, Matches(harness, "doomed"));
        var page = await QueryAfterRestartAsync(harness, "doomed");
        Assert.Equal([sessions[1]], page.Items.Select(s => s.Id));
    }

    [Fact]
    public async Task ADelayOfZero_IndexesEveryTextWithItsEvent()
    {
        await using var harness = await SessionsHarness.StartAsync(Settings("00:00:00"));
        await AppendBurstAsync(harness, "inline", sessions: 3, each: 40);

        Assert.Equal(0, BacklogRows(harness));
        Assert.Equal(120, Matches(harness, "inline"));
    }

    private static async Task<SessionPage> QueryAfterRestartAsync(SessionsHarness stopped, string text)
    {
        await using var again = await stopped.RestartAsync(Settings("00:01:00"));
        return await again.Store.ListAsync(new SessionQuery { Text = text }, Ct);
    }

    /// <summary>Appends <paramref name="each"/> texts to each of new sessions without waiting, so they make one batch; returns once all are stored.</summary>
    private static async Task<List<string>> AppendBurstAsync(SessionsHarness harness, string word, int sessions, int each)
    {
        var ids = new List<string>();
        for (var s = 0; s < sessions; s++)
        {
            ids.Add((await harness.NewSessionAsync()).Id);
        }
        var appends = new List<Task>();
        for (var i = 0; i < each; i++)
        {
            foreach (var id in ids)
            {
                appends.Add(harness.Bus.AppendAsync(id, Input($"{word} {word}{i % 10} text number {i}"), Ct).AsTask());
            }
        }
        await Task.WhenAll(appends);
        foreach (var id in ids)
        {
            await harness.Bus.WaitUntilDurableAsync(id, Ct);
        }
        return ids;
    }

    private static NewSessionEvent Input(string text) =>
        new(EventDirections.In, "query", EventActors.User, $$"""{"content":"{{text}}"}""");

    private static long Matches(SessionsHarness harness, string word) =>
        Scalar(harness, $"SELECT count(*) FROM {SessionSearch.Table} WHERE {SessionSearch.Table} MATCH '\"{word}\"'");

    private static long BacklogRows(SessionsHarness harness) => Scalar(harness, $"SELECT count(*) FROM {SessionSearch.Backlog}");

    private static long Scalar(SessionsHarness harness, string sql) =>
        Run(harness, sql, command => Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture));

    private static void Execute(SessionsHarness harness, string sql) => Run(harness, sql, command => command.ExecuteNonQuery());

    /// <summary>Runs SQL on the database file directly, bypassing Portal's code.</summary>
    private static T Run<T>(SessionsHarness harness, string sql, Func<SqliteCommand, T> run)
    {
        using var connection = new SqliteConnection($"Data Source={harness.DatabasePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return run(command);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(20, Ct);
        }
    }
}
