using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Portal.Agents;
using Portal.Sessions;
using Portal.Sessions.Storage;

namespace Portal.Tests.Sessions;

/// <summary>The session log as Portal runs it (bus, durable writer, real SQLite file in a temp folder), without the web host.</summary>
internal sealed class SessionsHarness : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _stopped;

    private SessionsHarness(IHost host, string folder)
    {
        _host = host;
        Folder = folder;
    }

    public string Folder { get; }
    public string DatabasePath => Path.Combine(Folder, "portal.db");
    public ISessionBus Bus => _host.Services.GetRequiredService<ISessionBus>();
    public ISessionStore Store => _host.Services.GetRequiredService<ISessionStore>();
    public DurableEventWriter Writer => _host.Services.GetRequiredService<DurableEventWriter>();
    public IServiceProvider Services => _host.Services;

    public static Task<SessionsHarness> StartAsync(Dictionary<string, string?>? settings = null) =>
        StartAsync(Directory.CreateTempSubdirectory("portal-tests-").FullName, settings);

    public static async Task<SessionsHarness> StartAsync(string folder, Dictionary<string, string?>? settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Portal:Sessions:DatabasePath"] = Path.Combine(folder, "portal.db"),
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddSessions();
        builder.AddAgents();
        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        return new SessionsHarness(host, folder);
    }

    /// <summary>Stops the host (flushing the writer) and starts a new one on the same database.</summary>
    public async Task<SessionsHarness> RestartAsync(Dictionary<string, string?>? settings = null)
    {
        await StopAsync();
        return await StartAsync(Folder, settings);
    }

    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await _host.StopAsync(CancellationToken.None);
            _host.Dispose();
        }
    }

    public Task<SessionInfo> NewSessionAsync(string kind = SessionKinds.Agent, string? owner = "owner-1") =>
        Bus.CreateSessionAsync(new NewSession(kind, owner), TestContext.Current.CancellationToken);

    public static NewSessionEvent Event(int n, string type = "test") =>
        new(EventDirections.In, type, EventActors.User, $$"""{"n":{{n}}}""");

    /// <summary>Reads the stored seqs of a session straight from the file, bypassing Portal's code.</summary>
    public List<long> StoredSeqs(string sessionId)
    {
        using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
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

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
