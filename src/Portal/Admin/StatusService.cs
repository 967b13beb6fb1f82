using Microsoft.Extensions.Options;
using Portal.Agents.Runtime;
using Portal.Endpoints.Sockets;
using Portal.Proxy.Telemetry;
using Portal.Security.Limits;
using Portal.Sessions;
using Portal.Sessions.Storage;

namespace Portal.Admin;

/// <summary>Open connections of one kind.</summary>
public sealed record EndpointCount(string Endpoint, long Open, string Note = "");

/// <summary>What is live in Portal right now, as the status page shows it.</summary>
public sealed record StatusSnapshot(
    DateTimeOffset At,
    IReadOnlyList<EndpointCount> Connections,
    int ActiveRuns,
    int PendingApprovals,
    double EventsPerSecond,
    long EventsAppended,
    long EventsWritten,
    int WriterQueueDepth,
    int WriterQueueCapacity,
    bool WriterFailing,
    long DatabaseBytes,
    long WalBytes,
    int LoadedSessions,
    IReadOnlyList<LimitCount> Limits,
    string? WriterError = null,
    long SearchBacklog = 0);

/// <summary>
/// Reads the live counts the status page shows from where they are kept: socket endpoints, the proxy's metrics, the
/// circuit counter, the agent runtime, the session bus and its writer, the database files. The event rate is the
/// change of the bus's append counter over the last second or more.
/// </summary>
internal sealed class StatusService
{
    private static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(1);
    private readonly Lock _gate = new();
    private readonly SocketConnections _sockets;
    private readonly ProxyMetrics _proxy;
    private readonly CircuitCounter _circuits;
    private readonly AgentRuntime _runtime;
    private readonly SessionBus _bus;
    private readonly DurableEventWriter _writer;
    private readonly PortalDatabase _database;
    private readonly SessionsOptions _options;
    private readonly TimeProvider _time;
    private readonly ClientLimits _limits;
    private (long Timestamp, long Appended) _sample;
    private double _rate;

    public StatusService(SocketConnections sockets, ProxyMetrics proxy, CircuitCounter circuits, AgentRuntime runtime, SessionBus bus,
        DurableEventWriter writer, PortalDatabase database, IOptions<SessionsOptions> options, TimeProvider time, ClientLimits limits)
    {
        _limits = limits;
        _sockets = sockets;
        _proxy = proxy;
        _circuits = circuits;
        _runtime = runtime;
        _bus = bus;
        _writer = writer;
        _database = database;
        _options = options.Value;
        _time = time;
        _sample = (time.GetTimestamp(), bus.AppendedEvents);
    }

    public StatusSnapshot Read()
    {
        var appended = _bus.AppendedEvents;
        return new StatusSnapshot(
            _time.GetUtcNow(),
            [
                new EndpointCount("/ws/agent", _sockets.Count("/ws/agent")),
                new EndpointCount("/ws/chat", _sockets.Count("/ws/chat")),
                new EndpointCount("/hubs/session", _sockets.Count("/hubs/session")),
                new EndpointCount("/ces", _proxy.ActiveConnections, $"{_proxy.ActiveUpstreamConnections} upstream"),
                new EndpointCount("Blazor circuits", Math.Max(0, _circuits.Open), $"{Math.Max(0, _circuits.Connected)} connected"),
            ],
            _runtime.RunningTurns,
            _runtime.PendingApprovals,
            Rate(appended),
            appended,
            _writer.Health.EventsWritten,
            _writer.QueueDepth,
            _options.WriterQueueCapacity,
            _writer.Health.Failing,
            FileBytes(_database.FilePath),
            FileBytes(_database.FilePath + "-wal"),
            _bus.LoadedSessionCount,
            _limits.Counts(),
            _writer.Health.LastError,
            _writer.SearchBacklog);
    }

    /// <summary>Events per second since the previous sample, resampled once the window has passed (however many pages ask).</summary>
    private double Rate(long appended)
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            var elapsed = _time.GetElapsedTime(_sample.Timestamp, now);
            if (elapsed >= RateWindow)
            {
                _rate = (appended - _sample.Appended) / elapsed.TotalSeconds;
                _sample = (now, appended);
            }
            return _rate;
        }
    }

    private static long FileBytes(string path)
    {
        var file = new FileInfo(path);
        return file.Exists ? file.Length : 0;
    }
}
