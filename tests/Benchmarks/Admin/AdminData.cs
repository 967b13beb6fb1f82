using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Portal.Sessions;
using Portal.Sessions.Search;
using Portal.Sessions.Storage;

namespace Portal.Benchmarks.Admin;

/// <summary>
/// Fills a database with Portal's schema with many sessions and events that look like real ones: chats and agent
/// sessions of turns (user input, streamed deltas, the complete message, tool calls with approvals, usage), widget
/// sessions of text frames, owners, agents, titles, six months of timestamps. Rows go in with raw batched inserts in
/// key order; message text goes into the full-text index as the durable writer would put it there.
/// </summary>
internal sealed class AdminData
{
    public const int Users = 500;
    public const string BigSessionId = "big00000000000000000000000000000";
    private static readonly string[] Agents = ["offline", "gpt-4.1", "claude-sonnet-4-5", "gemini-2.5-pro"];
    private readonly Random _random = new(4242);
    private readonly string[] _words;
    private readonly long _start = DateTimeOffset.UtcNow.AddDays(-180).ToUnixTimeMilliseconds();

    public AdminData()
    {
        // 10,000 pronounceable words; picks are skewed, so a few are everywhere and most are rare.
        var syllables = new[] { "ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "ben", "dar", "el", "fin", "gor", "hul", "is", "jo" };
        _words = new string[10_000];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < _words.Length; i++)
        {
            string word;
            do
            {
                var length = 2 + _random.Next(3);
                word = string.Concat(Enumerable.Range(0, length).Select(_ => syllables[_random.Next(syllables.Length)]));
            }
            while (!seen.Add(word));
            _words[i] = word;
        }
    }

    /// <summary>A word at a rank of the skewed distribution: rank 0 is the most frequent.</summary>
    public string Word(int rank) => _words[rank];

    public static async Task CreateSchemaAsync(string path)
    {
        var options = new DbContextOptionsBuilder<PortalDbContext>().UseSqlite($"Data Source={path};Pooling=False").Options;
        await using var db = new PortalDbContext(options);
        await db.Database.MigrateAsync();
    }

    public void Fill(string path, int sessions, long events)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        Execute(connection, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;");
        var stopwatch = Stopwatch.StartNew();
        InsertUsers(connection);
        var counts = EventCounts(sessions, events);
        using var writer = new Writer(connection);
        long written = 0;
        for (var i = 0; i < sessions; i++)
        {
            var key = i + 1L;
            var session = NewSession(i, sessions, key, counts[i]);
            writer.Session(session);
            WriteEvents(writer, session);
            written += counts[i];
            if (i % 10_000 == 9_999)
            {
                writer.Commit();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {i + 1:N0} sessions, {written:N0} events ({written / stopwatch.Elapsed.TotalSeconds:N0} events/s)"));
            }
        }
        writer.Commit();
        Console.WriteLine("  analyzing...");
        Execute(connection, "ANALYZE; PRAGMA journal_mode=WAL;");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  filled in {stopwatch.Elapsed.TotalSeconds:0} s"));
    }

    private long[] EventCounts(int sessions, long events)
    {
        // One session holds 100,000 events (or a tenth of all): the long log the detail page must stay fast with.
        var counts = new long[sessions];
        counts[0] = Math.Min(100_000, events / 10);
        var rest = events - counts[0];
        var average = (double)rest / Math.Max(1, sessions - 1);
        long sum = 0;
        for (var i = 1; i < sessions; i++)
        {
            counts[i] = Math.Max(2, (long)(average * (0.25 + 1.5 * _random.NextDouble())));
            sum += counts[i];
        }
        // Bring the total to exactly the number asked for.
        var i2 = 1;
        while (sum != rest && sessions > 1)
        {
            var step = sum > rest ? -1 : 1;
            if (counts[i2] + step >= 2)
            {
                counts[i2] += step;
                sum += step;
            }
            i2 = i2 % (sessions - 1) + 1;
        }
        return counts;
    }

    private void InsertUsers(SqliteConnection connection)
    {
        using var transaction = connection.BeginTransaction();
        using var insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = """
            INSERT INTO AspNetUsers (Id, UserName, NormalizedUserName, Email, NormalizedEmail, EmailConfirmed, PhoneNumberConfirmed,
                TwoFactorEnabled, LockoutEnabled, AccessFailedCount) VALUES ($id, $e, upper($e), $e, upper($e), 1, 0, 0, 0, 0)
            """;
        var id = insert.Parameters.Add("$id", SqliteType.Text);
        var email = insert.Parameters.Add("$e", SqliteType.Text);
        for (var i = 0; i < Users; i++)
        {
            id.Value = UserId(i);
            email.Value = string.Create(CultureInfo.InvariantCulture, $"{_words[500 + i]}{i}@{(i % 5 == 0 ? "portal.test" : "example.org")}");
            insert.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    private static string UserId(int i) => string.Create(CultureInfo.InvariantCulture, $"user-{i:D4}");

    private Session NewSession(int i, int sessions, long key, long events)
    {
        var kind = (i % 20) switch
        {
            < 8 => SessionKinds.Chat,
            < 13 => SessionKinds.Agent,
            < 16 => SessionKinds.ChatWebSocket,
            < 19 => SessionKinds.CesProxy,
            _ => SessionKinds.Hub,
        };
        var roll = _random.NextDouble();
        var status = roll < 0.5 ? SessionStatuses.Idle : roll < 0.85 ? SessionStatuses.Ended : roll < 0.95 ? SessionStatuses.Interrupted : SessionStatuses.Active;
        var created = _start + (long)(i * 180d * 86_400_000 / sessions) + _random.Next(60_000);
        var duration = (long)(_random.NextDouble() * 3 * 86_400_000);
        return new Session(
            key,
            i == 0 ? BigSessionId : Guid.NewGuid().ToString("N"),
            kind,
            status,
            kind == SessionKinds.CesProxy ? null : UserId(_random.Next(Users)),
            kind switch
            {
                SessionKinds.CesProxy => string.Create(CultureInfo.InvariantCulture, $"projects/shop/locations/us/apps/app{_random.Next(10)}"),
                SessionKinds.Hub => null,
                _ => Agents[_random.Next(Agents.Length)],
            },
            _random.Next(20) == 0 ? null : Sentence(3 + _random.Next(4)),
            created,
            created + duration,
            events);
    }

    /// <summary>Words of the skewed vocabulary: rank = 10,000 u^3, so the first hundred words make up a fifth of all text.</summary>
    private string Sentence(int words)
    {
        var text = new StringBuilder();
        for (var i = 0; i < words; i++)
        {
            if (i > 0)
            {
                text.Append(' ');
            }
            var u = _random.NextDouble();
            text.Append(_words[(int)(_words.Length * u * u * u)]);
        }
        return text.ToString();
    }

    private void WriteEvents(Writer writer, Session session)
    {
        var time = session.Created;
        var step = Math.Max(1, (session.LastActivity - session.Created) / Math.Max(1, session.Events));
        var seq = 0L;
        void Add(string direction, string type, string actor, string payload, string? text = null)
        {
            if (seq >= session.Events)
            {
                return;
            }
            seq++;
            time += step;
            writer.Event(session.Key, seq, time, direction, type, actor, payload, text);
        }
        Add(EventDirections.Internal, EventTypes.SessionStarted, EventActors.System, $$"""{"kind":"{{session.Kind}}","agent":"{{session.Agent}}"}""");
        var turn = 0;
        while (seq < session.Events)
        {
            turn++;
            if (session.Kind == SessionKinds.CesProxy)
            {
                var said = Sentence(4 + _random.Next(8));
                Add(EventDirections.In, EventTypes.ProxyFrame, EventActors.Participant, $$$"""{"realtimeInput":{"text":"{{{said}}}"}}""", said);
                var answer = Sentence(8 + _random.Next(16));
                Add(EventDirections.Out, EventTypes.ProxyFrame, EventActors.Agent, $$$"""{"sessionOutput":{"text":"{{{answer}}}","turnIndex":{{{turn}}}}}""", answer);
                Add(EventDirections.Out, EventTypes.ProxyFrame, EventActors.Agent, $$$"""{"sessionOutput":{"turnCompleted":true,"turnIndex":{{{turn}}}}}""");
                continue;
            }
            var run = Guid.NewGuid().ToString("N");
            var input = Sentence(5 + _random.Next(15));
            Add(EventDirections.In, EventTypes.UserInput, EventActors.User,
                $$"""{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"{{input}}"}]}]}""", input);
            Add(EventDirections.Internal, EventTypes.RunStarted, EventActors.Agent, $$"""{"runId":"{{run}}","inputSeq":{{seq}},"agent":"{{session.Agent}}"}""");
            Add(EventDirections.Out, "loading_state", EventActors.Agent, """{"loading":true}""");
            if (session.Kind == SessionKinds.Agent && turn % 3 == 0)
            {
                var call = Guid.NewGuid().ToString("N")[..12];
                Add(EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent,
                    $$"""{"type":"function_call","runId":"{{run}}","call_id":"{{call}}","name":"shell","arguments":"{\"command\":[\"ls\",\"-la\"]}"}""");
                Add(EventDirections.Out, EventTypes.ApprovalRequest, EventActors.Agent,
                    $$"""{"runId":"{{run}}","callId":"{{call}}","tool":"shell","command":["ls","-la"],"workdir":".","reason":"runs a command"}""");
                Add(EventDirections.Internal, EventTypes.ApprovalDecision, EventActors.User, $$"""{"callId":"{{call}}","decision":"approved","by":"user"}""");
                Add(EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent,
                    $$"""{"type":"function_call_output","runId":"{{run}}","call_id":"{{call}}","output":"total 8\nnotes.txt"}""");
            }
            var words = 10 + _random.Next(40);
            var reply = new StringBuilder();
            var item = Guid.NewGuid().ToString("N");
            for (var w = 0; w < words && seq < session.Events - 3; w++)
            {
                var word = Sentence(1) + " ";
                reply.Append(word);
                Add(EventDirections.Out, EventTypes.ResponseDelta, EventActors.Agent, $$"""{"runId":"{{run}}","itemId":"{{item}}","delta":"{{word}}"}""");
            }
            var text = reply.ToString().TrimEnd();
            Add(EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent,
                $$$"""{"type":"message","id":"{{{item}}}","runId":"{{{run}}}","role":"assistant","content":[{"type":"output_text","text":"{{{text}}}"}]}""", text);
            Add(EventDirections.Out, "agent_finished", EventActors.Agent,
                $$$"""{"responseId":"{{{item}}}","runId":"{{{run}}}","status":"completed","usage":{"inputTokens":{{{200 + _random.Next(2000)}}},"outputTokens":{{{words}}}}}""");
        }
    }

    private sealed record Session(long Key, string Id, string Kind, string Status, string? Owner, string? Agent, string? Title,
        long Created, long LastActivity, long Events);

    /// <summary>Reused commands in a long transaction, committed every 10,000 sessions.</summary>
    private sealed class Writer : IDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly SqliteCommand _session;
        private readonly SqliteCommand _event;
        private readonly SqliteCommand _text;
        private SqliteTransaction _transaction;

        public Writer(SqliteConnection connection)
        {
            _connection = connection;
            _transaction = connection.BeginTransaction();
            _session = Command("""
                INSERT INTO Sessions (Key, Id, Kind, OwnerId, Title, Agent, CreatedAt, LastActivityAt, Status, EventCount)
                VALUES ($k, $id, $kind, $owner, $title, $agent, $c, $l, $status, $n)
                """, "$k", "$id", "$kind", "$owner", "$title", "$agent", "$c", "$l", "$status", "$n");
            _event = Command("INSERT INTO SessionEvents VALUES ($k, $s, $t, $d, $y, $a, $p, $z)", "$k", "$s", "$t", "$d", "$y", "$a", "$p", "$z");
            _text = Command($"INSERT INTO {SessionSearch.Table} (rowid, Text) VALUES ($r, $x)", "$r", "$x");
        }

        private SqliteCommand Command(string sql, params string[] parameters)
        {
            var command = _connection.CreateCommand();
            command.CommandText = sql;
            command.Transaction = _transaction;
            foreach (var name in parameters)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }
            return command;
        }

        public void Session(Session s)
        {
            Run(_session, s.Key, s.Id, s.Kind, s.Owner, s.Title, s.Agent, s.Created, s.LastActivity, s.Status, s.Events);
            if (s.Title is not null)
            {
                Run(_text, SessionSearch.TitleRowId(s.Key), s.Title);
            }
        }

        public void Event(long key, long seq, long time, string direction, string type, string actor, string payload, string? text)
        {
            Run(_event, key, seq, time, direction, type, actor, payload, Encoding.UTF8.GetByteCount(payload));
            if (text is not null)
            {
                Run(_text, SessionSearch.RowId(key, seq), text);
            }
        }

        public void Commit()
        {
            _transaction.Commit();
            _transaction = _connection.BeginTransaction();
            _session.Transaction = _event.Transaction = _text.Transaction = _transaction;
        }

        private static void Run(SqliteCommand command, params object?[] values)
        {
            for (var i = 0; i < values.Length; i++)
            {
                command.Parameters[i].Value = values[i] ?? DBNull.Value;
            }
            command.ExecuteNonQuery();
        }

        public void Dispose()
        {
            _transaction.Dispose();
            _session.Dispose();
            _event.Dispose();
            _text.Dispose();
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
