using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Portal.Sessions.Storage;

/// <summary>The SQLite file: where it is, how connections are opened, and its schema at start-up.</summary>
internal sealed partial class PortalDatabase
{
    private readonly ILogger<PortalDatabase> _logger;

    public PortalDatabase(IOptions<SessionsOptions> options, ILogger<PortalDatabase> logger)
    {
        _logger = logger;
        FilePath = Path.GetFullPath(options.Value.DatabasePath, Environment.CurrentDirectory);
        ConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = FilePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string FilePath { get; }

    public string ConnectionString { get; }

    public SqliteConnection OpenConnection()
    {
        var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        // WAL survives in the file; synchronous=NORMAL is per connection: a commit is durable against a process
        // crash (kill -9), and only an OS crash or power loss may roll back the last transactions.
        using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous=NORMAL;";
        pragma.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Creates the folder and the file, switches to WAL and applies pending migrations.</summary>
    public async Task MigrateAsync(PortalDbContext db, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        await db.Database.MigrateAsync(cancellationToken);
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        Log.Ready(_logger, FilePath, pending.Count);
    }

    public static bool SessionExists(SqliteConnection connection, long key)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1 FROM Sessions WHERE Key = $k";
        command.Parameters.AddWithValue("$k", key);
        return command.ExecuteScalar() is not null;
    }

    public long FileSizeBytes()
    {
        long total = 0;
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            var file = new FileInfo(FilePath + suffix);
            if (file.Exists)
            {
                total += file.Length;
            }
        }
        return total;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Database {Path} ready ({Applied} migrations applied)")]
        public static partial void Ready(ILogger logger, string path, int applied);
    }
}
