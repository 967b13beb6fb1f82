using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Agents.Runtime;
using Portal.Security;
using Portal.Sessions;
using Portal.Sessions.Storage;

namespace Portal.Tests.Sessions;

/// <summary>The admin grid's queries against a real SQLite file: every filter, every sort, full-text search, paging.</summary>
public sealed class SessionQueryTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Day = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private SessionsHarness _harness = default!;
    private readonly List<Seeded> _seeded = [];

    private sealed record Seeded(string Id, string Kind, string Status, string? Owner, string? Agent, string? Title,
        DateTimeOffset Created, DateTimeOffset LastActivity, long Events);

    public async ValueTask InitializeAsync()
    {
        _harness = await SessionsHarness.StartAsync();
        await AddUserAsync("u-alice", "alice@example.org");
        await AddUserAsync("u-bob", "bob@portal.test");
        await AddUserAsync("u-carol", "Carol@Example.org");
        // Every sortable column has distinct values, so each order is fully determined.
        await SeedAsync(SessionKinds.Chat, SessionStatuses.Idle, "u-alice", "offline", "Deploy the website", created: 1, active: 9, events: 30);
        await SeedAsync(SessionKinds.Agent, SessionStatuses.Active, "u-bob", "gpt", "Budget review", created: 2, active: 5, events: 10);
        await SeedAsync(SessionKinds.CesProxy, SessionStatuses.Ended, null, "apps/shop", "Widget session 7", created: 3, active: 3, events: 500);
        await SeedAsync(SessionKinds.Chat, SessionStatuses.Interrupted, "u-carol", "offline", null, created: 4, active: 7, events: 2);
        await SeedAsync(SessionKinds.ChatWebSocket, SessionStatuses.Active, "u-alice", "gpt", "Quarterly numbers", created: 5, active: 11, events: 70);
        await SeedAsync(SessionKinds.Agent, SessionStatuses.Ended, "u-bob", "claude", "Archive cleanup", created: 6, active: 6, events: 0);
    }

    public async ValueTask DisposeAsync() => await _harness.DisposeAsync();

    [Fact]
    public async Task List_ByKind_ReturnsOnlyThatKind()
    {
        var page = await ListAsync(new SessionQuery { Kind = SessionKinds.Chat });

        Assert.Equal(Expected(s => s.Kind == SessionKinds.Chat), Ids(page));
    }

    [Fact]
    public async Task List_ByStatus_ReturnsOnlyThatStatus()
    {
        var page = await ListAsync(new SessionQuery { Status = SessionStatuses.Ended });

        Assert.Equal(Expected(s => s.Status == SessionStatuses.Ended), Ids(page));
    }

    [Fact]
    public async Task List_ByOwnerEmail_MatchesPartOfTheAddressIgnoringCase()
    {
        var page = await ListAsync(new SessionQuery { OwnerEmail = "EXAMPLE.org" });

        Assert.Equal(Expected(s => s.Owner is "u-alice" or "u-carol"), Ids(page));
        Assert.All(page.Items, s => Assert.EndsWith("example.org", s.OwnerName!, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task List_ByOwnerEmailMatchingNobody_IsEmpty()
    {
        var page = await ListAsync(new SessionQuery { OwnerEmail = "nobody@" });

        Assert.Empty(page.Items);
        Assert.Equal(0, page.Total);
    }

    [Fact]
    public async Task List_ByAgent_ReturnsOnlyThatAgent()
    {
        var page = await ListAsync(new SessionQuery { Agent = "gpt" });

        Assert.Equal(Expected(s => s.Agent == "gpt"), Ids(page));
    }

    [Fact]
    public async Task List_ByDateRange_ReturnsSessionsActiveWithinIt()
    {
        // Active at or after day 6 and created before day 5.
        var page = await ListAsync(new SessionQuery { From = Day.AddDays(6), To = Day.AddDays(5) });

        Assert.Equal(Expected(s => s.LastActivity >= Day.AddDays(6) && s.Created < Day.AddDays(5)), Ids(page));
        Assert.Equal(2, page.Total); // "Deploy the website" (1 to 9) and the untitled chat (4 to 7)
    }

    [Fact]
    public async Task List_KindAndStatusTogether_BothApply()
    {
        var page = await ListAsync(new SessionQuery { Kind = SessionKinds.Agent, Status = SessionStatuses.Active });

        Assert.Equal([_seeded[1].Id], Ids(page));
    }

    [Theory]
    [InlineData(SessionSort.LastActivity, true)]
    [InlineData(SessionSort.LastActivity, false)]
    [InlineData(SessionSort.Created, true)]
    [InlineData(SessionSort.Created, false)]
    [InlineData(SessionSort.Title, true)]
    [InlineData(SessionSort.Title, false)]
    [InlineData(SessionSort.Kind, true)]
    [InlineData(SessionSort.Kind, false)]
    [InlineData(SessionSort.Status, true)]
    [InlineData(SessionSort.Status, false)]
    [InlineData(SessionSort.EventCount, true)]
    [InlineData(SessionSort.EventCount, false)]
    [InlineData(SessionSort.Owner, true)]
    [InlineData(SessionSort.Owner, false)]
    public async Task List_SortedByAColumn_ComesInThatOrder(SessionSort sort, bool descending)
    {
        var page = await ListAsync(new SessionQuery { Sort = sort, Descending = descending });

        IEnumerable<Seeded> expected = sort switch
        {
            SessionSort.Created => _seeded.OrderBy(s => s.Created),
            SessionSort.Title => _seeded.OrderBy(s => s.Title, StringComparer.Ordinal),
            SessionSort.Kind => _seeded.OrderBy(s => s.Kind, StringComparer.Ordinal).ThenBy(s => s.LastActivity),
            SessionSort.Status => _seeded.OrderBy(s => s.Status, StringComparer.Ordinal).ThenBy(s => s.LastActivity),
            SessionSort.EventCount => _seeded.OrderBy(s => s.Events),
            SessionSort.Owner => _seeded.OrderBy(s => OwnerName(s.Owner), StringComparer.Ordinal).ThenBy(s => s.LastActivity),
            _ => _seeded.OrderBy(s => s.LastActivity),
        };
        var ids = expected.Select(s => s.Id).ToList();
        if (descending)
        {
            ids.Reverse();
        }
        Assert.Equal(ids, Ids(page));
    }

    [Fact]
    public async Task List_DefaultOrder_IsNewestActivityFirst()
    {
        var page = await ListAsync(new SessionQuery());

        Assert.Equal(_seeded.OrderByDescending(s => s.LastActivity).Select(s => s.Id), Ids(page));
    }

    [Fact]
    public async Task List_Paged_ReturnsThatPageAndTheTotalOfAllPages()
    {
        var first = await ListAsync(new SessionQuery { PageSize = 4, Page = 1, Sort = SessionSort.Created, Descending = false });
        var second = await ListAsync(new SessionQuery { PageSize = 4, Page = 2, Sort = SessionSort.Created, Descending = false });
        var beyond = await ListAsync(new SessionQuery { PageSize = 4, Page = 3, Sort = SessionSort.Created, Descending = false });

        Assert.Equal(_seeded.Take(4).Select(s => s.Id), Ids(first));
        Assert.Equal(_seeded.Skip(4).Select(s => s.Id), Ids(second));
        Assert.Empty(beyond.Items);
        Assert.All([first, second, beyond], p => Assert.Equal(6, p.Total));
    }

    [Fact]
    public async Task List_FilteredAndPaged_TotalCountsTheFilteredSessions()
    {
        var page = await ListAsync(new SessionQuery { Kind = SessionKinds.Agent, PageSize = 1 });

        Assert.Single(page.Items);
        Assert.Equal(2, page.Total);
    }

    [Fact]
    public async Task Text_WordOfATitle_FindsThatSession()
    {
        var page = await ListAsync(new SessionQuery { Text = "budget" });

        Assert.Equal([_seeded[1].Id], Ids(page));
    }

    [Fact]
    public async Task Text_WordOfAUsersMessage_FindsItsSession()
    {
        await AppendAsync(_seeded[3].Id, EventDirections.In, EventTypes.UserInput, UserInputPayload.FromText("Please rename the flamingo module"));

        var page = await ListAsync(new SessionQuery { Text = "Flamingo" });

        Assert.Equal([_seeded[3].Id], Ids(page));
    }

    [Fact]
    public async Task Text_WordOfACompleteAssistantMessage_FindsItsSession()
    {
        await AppendAsync(_seeded[0].Id, EventDirections.Out, EventTypes.ResponseItem,
            ResponseItemPayload.AssistantMessage("run1", "resp1", "msg1", "The pelican build finished."));

        var page = await ListAsync(new SessionQuery { Text = "pelican" });

        Assert.Equal([_seeded[0].Id], Ids(page));
    }

    [Fact]
    public async Task Text_WordOnlyInTokenDeltas_IsNotIndexed()
    {
        await AppendAsync(_seeded[0].Id, EventDirections.Out, EventTypes.ResponseDelta, new ResponseDeltaPayload("run1", "msg1", "walrus"));

        var page = await ListAsync(new SessionQuery { Text = "walrus" });

        Assert.Empty(page.Items);
    }

    [Fact]
    public async Task Text_ToolCallsAndOutputs_AreNotIndexed()
    {
        await AppendAsync(_seeded[0].Id, EventDirections.Out, EventTypes.ResponseItem, ResponseItemPayload.FunctionCallOutput("run1", "call1", "narwhal.txt"));

        var page = await ListAsync(new SessionQuery { Text = "narwhal" });

        Assert.Empty(page.Items);
    }

    [Fact]
    public async Task Text_ChatSocketQueryAndAnswer_AreIndexed()
    {
        await AppendAsync(_seeded[4].Id, EventDirections.In, "query", new { type = "query", content = "How many otters?" });
        await AppendAsync(_seeded[4].Id, EventDirections.Out, "response", new { type = "response", content = "Seven beavers." });

        Assert.Equal([_seeded[4].Id], Ids(await ListAsync(new SessionQuery { Text = "otters" })));
        Assert.Equal([_seeded[4].Id], Ids(await ListAsync(new SessionQuery { Text = "beavers" })));
    }

    [Fact]
    public async Task Text_WidgetTextFrames_AreIndexed()
    {
        await AppendAsync(_seeded[2].Id, EventDirections.In, EventTypes.ProxyFrame, new { realtimeInput = new { text = "where is my parcel" } });
        await AppendAsync(_seeded[2].Id, EventDirections.Out, EventTypes.ProxyFrame, new { sessionOutput = new { text = "It left the depot", turnIndex = 1 } });

        Assert.Equal([_seeded[2].Id], Ids(await ListAsync(new SessionQuery { Text = "parcel" })));
        Assert.Equal([_seeded[2].Id], Ids(await ListAsync(new SessionQuery { Text = "depot" })));
    }

    [Fact]
    public async Task Text_TitleOrMessage_BothFoundInOneSearch()
    {
        await AppendAsync(_seeded[3].Id, EventDirections.In, EventTypes.UserInput, UserInputPayload.FromText("an archive of old mail"));

        var page = await ListAsync(new SessionQuery { Text = "archive" });

        Assert.Equal(new[] { _seeded[3].Id, _seeded[5].Id }.Order(), Ids(page).Order());
    }

    [Fact]
    public async Task Text_SeveralWords_AllMustOccur()
    {
        var both = await ListAsync(new SessionQuery { Text = "deploy website" });
        var one = await ListAsync(new SessionQuery { Text = "deploy budget" });

        Assert.Equal([_seeded[0].Id], Ids(both));
        Assert.Empty(one.Items);
    }

    [Fact]
    public async Task Text_WordEndingWithStar_MatchesAsAPrefix()
    {
        var whole = await ListAsync(new SessionQuery { Text = "quarter" });
        var prefix = await ListAsync(new SessionQuery { Text = "quarter*" });

        Assert.Empty(whole.Items);
        Assert.Equal([_seeded[4].Id], Ids(prefix));
    }

    [Fact]
    public async Task Text_IgnoresCaseAndAccents()
    {
        await AppendAsync(_seeded[1].Id, EventDirections.In, EventTypes.UserInput, UserInputPayload.FromText("Un café crème"));

        var page = await ListAsync(new SessionQuery { Text = "CAFE creme" });

        Assert.Equal([_seeded[1].Id], Ids(page));
    }

    [Theory]
    [InlineData("\"")]
    [InlineData("budget\" OR \"deploy")]
    [InlineData("NEAR(budget deploy)")]
    [InlineData("-budget")]
    [InlineData("budget:*")]
    [InlineData("*")]
    [InlineData("((")]
    public async Task Text_FtsSyntaxInTheInput_IsTakenLiterallyAndNeverFails(string text)
    {
        var page = await ListAsync(new SessionQuery { Text = text });

        // Only a literal reading can match: "budget" alone matches the one title that has it.
        Assert.True(page.Items.Count <= 1);
        Assert.All(page.Items, s => Assert.Equal(_seeded[1].Id, s.Id));
    }

    [Fact]
    public async Task Text_CombinedWithAFilter_BothApply()
    {
        await AppendAsync(_seeded[1].Id, EventDirections.In, EventTypes.UserInput, UserInputPayload.FromText("the website is down"));

        var agents = await ListAsync(new SessionQuery { Text = "website", Kind = SessionKinds.Agent });
        var chats = await ListAsync(new SessionQuery { Text = "website", Kind = SessionKinds.Chat });

        Assert.Equal([_seeded[1].Id], Ids(agents));
        Assert.Equal([_seeded[0].Id], Ids(chats));
    }

    [Fact]
    public async Task Text_AfterTheTitleChanges_FindsTheNewTitleOnly()
    {
        await _harness.Bus.SetTitleAsync(_seeded[1].Id, "Travel expenses", Ct);

        Assert.Empty((await ListAsync(new SessionQuery { Text = "budget" })).Items);
        Assert.Equal([_seeded[1].Id], Ids(await ListAsync(new SessionQuery { Text = "expenses" })));
    }

    [Fact]
    public async Task Delete_RemovesTheSessionsTextFromTheIndex()
    {
        await AppendAsync(_seeded[0].Id, EventDirections.In, EventTypes.UserInput, UserInputPayload.FromText("heron"));
        Assert.Equal(2, IndexedRows(_seeded[0].Id)); // title and message

        await _harness.Bus.DeleteSessionAsync(_seeded[0].Id, Ct);

        Assert.Empty((await ListAsync(new SessionQuery { Text = "heron" })).Items);
        Assert.Equal(0, OrphanedIndexRows());
    }

    [Fact]
    public async Task ReadBackward_PagesNewestFirst_AndFiltersByType()
    {
        var id = _seeded[5].Id;
        for (var i = 1; i <= 10; i++)
        {
            await AppendAsync(id, EventDirections.In, i % 3 == 0 ? "special" : "plain", new { i });
        }

        var newest = await _harness.Store.ReadBackwardAsync(id, long.MaxValue, 4, null, Ct);
        var older = await _harness.Store.ReadBackwardAsync(id, newest[^1].Seq, 4, null, Ct);
        var special = await _harness.Store.ReadBackwardAsync(id, long.MaxValue, 10, "special", Ct);

        Assert.Equal([10L, 9, 8, 7], newest.Select(e => e.Seq));
        Assert.Equal([6L, 5, 4, 3], older.Select(e => e.Seq));
        Assert.Equal([9L, 6, 3], special.Select(e => e.Seq));
    }

    [Fact]
    public async Task Tally_CountsEventsAndBytesByTypeAndDirection()
    {
        var id = _seeded[5].Id;
        await _harness.Bus.AppendAsync(id, new NewSessionEvent(EventDirections.In, "frame", EventActors.User, "{}", Size: 100), Ct);
        await _harness.Bus.AppendAsync(id, new NewSessionEvent(EventDirections.In, "frame", EventActors.User, "{}", Size: 50), Ct);
        await _harness.Bus.AppendAsync(id, new NewSessionEvent(EventDirections.Out, "frame", EventActors.Agent, "{}", Size: 7), Ct);
        await _harness.Bus.AppendAsync(id, new NewSessionEvent(EventDirections.Out, "other", EventActors.Agent, "{}", Size: 1), Ct);
        await _harness.Bus.WaitUntilDurableAsync(id, Ct);

        var tally = await _harness.Store.TallyAsync(id, upToSeq: 3, Ct);

        Assert.Equal(
            [new EventTally("frame", EventDirections.In, 2, 150), new EventTally("frame", EventDirections.Out, 1, 7)],
            tally.OrderBy(t => t.Direction, StringComparer.Ordinal));
    }

    [Fact]
    public async Task ReadOfTypes_ReturnsOnlyThoseTypesInOrder()
    {
        var id = _seeded[5].Id;
        await AppendAsync(id, EventDirections.In, "wanted", new { a = 1 });
        await AppendAsync(id, EventDirections.In, "other", new { b = 2 });
        await AppendAsync(id, EventDirections.In, "wanted", new { a = 3 });

        var events = new List<SessionEvent>();
        await foreach (var e in _harness.Store.ReadOfTypesAsync(id, ["wanted"], long.MaxValue, Ct))
        {
            events.Add(e);
        }

        Assert.Equal([1L, 3], events.Select(e => e.Seq));
        Assert.Equal(["""{"a":1}""", """{"a":3}"""], events.Select(e => e.Payload));
    }

    private async Task<SessionPage> ListAsync(SessionQuery query) => await _harness.Store.ListAsync(query, Ct);

    private static List<string> Ids(SessionPage page) => page.Items.Select(s => s.Id).ToList();

    private List<string> Expected(Func<Seeded, bool> filter) =>
        _seeded.Where(filter).OrderByDescending(s => s.LastActivity).Select(s => s.Id).ToList();

    private static string? OwnerName(string? owner) => owner switch
    {
        "u-alice" => "alice@example.org",
        "u-bob" => "bob@portal.test",
        "u-carol" => "Carol@Example.org",
        _ => null,
    };

    private async Task AddUserAsync(string id, string email)
    {
        await using var db = await Factory.CreateDbContextAsync(Ct);
        db.Users.Add(new PortalUser { Id = id, UserName = email, NormalizedUserName = email.ToUpperInvariant(), Email = email, NormalizedEmail = email.ToUpperInvariant() });
        await db.SaveChangesAsync(Ct);
    }

    private async Task SeedAsync(string kind, string status, string? owner, string? agent, string? title, int created, int active, long events)
    {
        var session = await _harness.Bus.CreateSessionAsync(new NewSession(kind, owner, title, agent, Status: status), Ct);
        await using var db = await Factory.CreateDbContextAsync(Ct);
        await db.Sessions.Where(s => s.Id == session.Id).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.CreatedAt, Day.AddDays(created))
            .SetProperty(r => r.LastActivityAt, Day.AddDays(active))
            .SetProperty(r => r.EventCount, events), Ct);
        _seeded.Add(new Seeded(session.Id, kind, status, owner, agent, title, Day.AddDays(created), Day.AddDays(active), events));
    }

    private async Task AppendAsync<T>(string sessionId, string direction, string type, T payload)
    {
        await _harness.Bus.AppendAsync(sessionId, AgentJson.Event(direction, type, EventActors.User, payload), Ct);
        await _harness.Bus.WaitUntilDurableAsync(sessionId, Ct);
    }

    private IDbContextFactory<PortalDbContext> Factory => _harness.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>();

    private long IndexedRows(string sessionId)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM SessionSearch WHERE rowid BETWEEN (SELECT Key << 32 FROM Sessions WHERE Id = $id) AND (SELECT (Key << 32) + 4294967295 FROM Sessions WHERE Id = $id)";
        command.Parameters.AddWithValue("$id", sessionId);
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Rows of the full-text index whose session no longer exists.</summary>
    private long OrphanedIndexRows()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM SessionSearch WHERE (rowid >> 32) NOT IN (SELECT Key FROM Sessions)";
        return (long)command.ExecuteScalar()!;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection($"Data Source={_harness.DatabasePath};Pooling=False");
        connection.Open();
        return connection;
    }
}
