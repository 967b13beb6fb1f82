using System.Collections.Concurrent;

namespace Portal.Endpoints.Sockets;

/// <summary>How many program connections follow each session, so the last one leaving can mark it idle.</summary>
public sealed class SessionPresence
{
    private readonly ConcurrentDictionary<string, int> _connections = new(StringComparer.Ordinal);

    public int Join(string sessionId) => _connections.AddOrUpdate(sessionId, 1, (_, n) => n + 1);

    /// <summary>Returns how many connections remain.</summary>
    public int Leave(string sessionId)
    {
        while (true)
        {
            if (!_connections.TryGetValue(sessionId, out var n))
            {
                return 0;
            }
            if (n <= 1 ? _connections.TryRemove(new KeyValuePair<string, int>(sessionId, n)) : _connections.TryUpdate(sessionId, n - 1, n))
            {
                return n - 1;
            }
        }
    }

    public int Count(string sessionId) => _connections.TryGetValue(sessionId, out var n) ? n : 0;
}
