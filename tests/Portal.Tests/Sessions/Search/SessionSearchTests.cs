using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Portal.Agents.Runtime;
using Portal.Sessions;
using Portal.Sessions.Search;
using Portal.Sessions.Storage;

namespace Portal.Tests.Sessions.Search;

public sealed class SessionSearchTests
{
    [Theory]
    [InlineData("hello", "\"hello\"")]
    [InlineData("  hello   world ", "\"hello\" \"world\"")]
    [InlineData("quart*", "\"quart\"*")]
    [InlineData("say \"hi\"", "\"say\" \"\"\"hi\"\"\"")]
    [InlineData("a OR b", "\"a\" \"OR\" \"b\"")]
    public void ToMatchQuery_EveryWordBecomesAQuotedPhrase(string input, string expected)
    {
        Assert.Equal(expected, SessionSearch.ToMatchQuery(input));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("* -- ((")]
    public void ToMatchQuery_NothingSearchable_IsNull(string? input)
    {
        Assert.Null(SessionSearch.ToMatchQuery(input));
    }

    [Fact]
    public void TextOf_UserInput_IsItsText()
    {
        var payload = AgentJson.Event(EventDirections.In, EventTypes.UserInput, EventActors.User, UserInputPayload.FromText("list the files")).Payload;

        Assert.Equal("list the files", SessionSearch.TextOf(EventTypes.UserInput, EventDirections.In, payload));
    }

    [Fact]
    public void TextOf_UserInputAsAPlainString_IsThatString()
    {
        Assert.Equal("plain", SessionSearch.TextOf(EventTypes.UserInput, EventDirections.In, """{"input":"plain"}"""));
    }

    [Fact]
    public void TextOf_AssistantMessage_IsItsText_ButNotAFunctionCall()
    {
        var message = AgentJson.Event(EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent,
            ResponseItemPayload.AssistantMessage("r", "p", "i", "Done: three files.")).Payload;
        var call = AgentJson.Event(EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent,
            ResponseItemPayload.FunctionCallOutput("r", "c", "text of a file")).Payload;

        Assert.Equal("Done: three files.", SessionSearch.TextOf(EventTypes.ResponseItem, EventDirections.Out, message));
        Assert.Null(SessionSearch.TextOf(EventTypes.ResponseItem, EventDirections.Out, call));
    }

    [Theory]
    [InlineData(EventTypes.ResponseDelta, EventDirections.Out, """{"delta":"text"}""")]
    [InlineData(EventTypes.ApprovalRequest, EventDirections.Out, """{"text":"x"}""")]
    [InlineData(EventTypes.UserInput, EventDirections.Out, """{"text":"x"}""")]
    [InlineData(EventTypes.UserInput, EventDirections.In, "not json {")]
    [InlineData(EventTypes.ProxyFrame, EventDirections.Out, """{"sessionOutput":{"audio":"AAAA"}}""")]
    [InlineData(EventTypes.UserInput, EventDirections.In, """{"text":"   "}""")]
    [InlineData(EventTypes.ProxyFrame, EventDirections.Out, """{"recognitionResult":{"transcript":"where is my","partial":true}}""")]
    [InlineData(EventTypes.ProxyFrame, EventDirections.Out, """{"recognitionResult":{"transcript":"where is my", "partial": true}}""")]
    public void TextOf_EventsWithoutSearchableText_IsNull(string type, string direction, string payload)
    {
        Assert.Null(SessionSearch.TextOf(type, direction, payload));
    }

    [Theory]
    [InlineData(EventDirections.In, """{"realtimeInput":{"text":"where is my parcel"}}""", "where is my parcel")]
    [InlineData(EventDirections.Out, """{"sessionOutput":{"text":"On its way","turnIndex":1}}""", "On its way")]
    [InlineData(EventDirections.Out, """{"recognitionResult":{"transcript":"where is my parcel","partial":false}}""", "where is my parcel")]
    [InlineData(EventDirections.Out, """{"recognitionResult":{"transcript":"where is my parcel"}}""", "where is my parcel")]
    public void TextOf_WidgetFrames_IsTheirTextAndTheCallersFinalTranscript(string direction, string payload, string expected)
    {
        Assert.Equal(expected, SessionSearch.TextOf(EventTypes.ProxyFrame, direction, payload));
    }

    [Fact]
    public void TextOf_VeryLongMessage_IsCut()
    {
        var payload = $$"""{"text":"{{new string('a', 40_000)}}"}""";

        Assert.Equal(SessionSearch.MaxIndexedChars, SessionSearch.TextOf(EventTypes.UserInput, EventDirections.In, payload)!.Length);
    }

    [Fact]
    public void RowId_KeepsSessionAndSeqApart()
    {
        var row = SessionSearch.RowId(123, 456);
        var (first, last) = SessionSearch.Range(123);

        Assert.Equal(123, row >> 32);
        Assert.Equal(456, row & 0xFFFF_FFFF);
        Assert.InRange(row, first, last);
        Assert.True(SessionSearch.Range(124).First > last);
    }

    [Fact]
    public async Task Migrate_FromTheInitialSchema_IndexesTheTitlesAndMessagesAlreadyStored()
    {
        var folder = Directory.CreateTempSubdirectory("portal-migrate-");
        try
        {
            var path = Path.Combine(folder.FullName, "portal.db");
            var options = new DbContextOptionsBuilder<PortalDbContext>().UseSqlite($"Data Source={path};Pooling=False").Options;
            await using (var db = new PortalDbContext(options))
            {
                await db.GetService<IMigrator>().MigrateAsync("20261122000000_Initial", TestContext.Current.CancellationToken);
            }
            using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
            {
                connection.Open();
                using var insert = connection.CreateCommand();
                var input = AgentJson.Event(EventDirections.In, EventTypes.UserInput, EventActors.User, UserInputPayload.FromText("find the giraffe")).Payload;
                var answer = AgentJson.Event(EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent, ResponseItemPayload.AssistantMessage("r", "p", "i", "The zebra is here")).Payload;
                var call = AgentJson.Event(EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent, ResponseItemPayload.FunctionCallOutput("r", "c", "okapi")).Payload;
                insert.CommandText = """
                    INSERT INTO Sessions (Key, Id, Kind, Title, Status, CreatedAt, LastActivityAt, EventCount) VALUES (7, 'a', 'chat', 'Savanna trip', 'idle', 0, 0, 5);
                    INSERT INTO SessionEvents VALUES (7, 1, 0, 'in', 'user_input', 'user', $input, 10);
                    INSERT INTO SessionEvents VALUES (7, 2, 0, 'out', 'response_item', 'agent', $answer, 10);
                    INSERT INTO SessionEvents VALUES (7, 3, 0, 'out', 'response_item', 'agent', $call, 10);
                    INSERT INTO SessionEvents VALUES (7, 4, 0, 'out', 'response_delta', 'agent', '{"delta":"hyena"}', 10);
                    INSERT INTO SessionEvents VALUES (7, 5, 0, 'in', 'user_input', 'user', 'not json', 10);
                    """;
                insert.Parameters.AddWithValue("$input", input);
                insert.Parameters.AddWithValue("$answer", answer);
                insert.Parameters.AddWithValue("$call", call);
                insert.ExecuteNonQuery();
            }

            await using (var db = new PortalDbContext(options))
            {
                await db.Database.MigrateAsync(TestContext.Current.CancellationToken);
            }

            using var check = new SqliteConnection($"Data Source={path};Pooling=False");
            check.Open();
            Assert.Equal([7L << 32], Match(check, "savanna"));
            Assert.Equal([(7L << 32) | 1], Match(check, "giraffe"));
            Assert.Equal([(7L << 32) | 2], Match(check, "zebra"));
            Assert.Empty(Match(check, "okapi"));
            Assert.Empty(Match(check, "hyena"));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            folder.Delete(recursive: true);
        }
    }

    private static List<long> Match(SqliteConnection connection, string word)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT rowid FROM SessionSearch WHERE SessionSearch MATCH $q ORDER BY rowid";
        command.Parameters.AddWithValue("$q", word);
        using var reader = command.ExecuteReader();
        var rows = new List<long>();
        while (reader.Read())
        {
            rows.Add(reader.GetInt64(0));
        }
        return rows;
    }
}
