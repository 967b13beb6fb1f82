using System.Collections.Concurrent;

namespace Portal.Endpoints.Sockets;

/// <summary>How many WebSocket connections each endpoint has open now, for the status page.</summary>
public sealed class SocketConnections
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    /// <summary>Counts a connection of <paramref name="endpoint"/> until the returned lease is disposed.</summary>
    public Lease Open(string endpoint)
    {
        _open.AddOrUpdate(endpoint, 1, (_, n) => n + 1);
        return new Lease(this, endpoint);
    }

    public int Count(string endpoint) => _open.TryGetValue(endpoint, out var n) ? n : 0;

    private void Close(string endpoint) => _open.AddOrUpdate(endpoint, 0, (_, n) => Math.Max(0, n - 1));

    /// <summary>One open connection; disposing it more than once counts it closed once.</summary>
    public sealed class Lease(SocketConnections owner, string endpoint) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                owner.Close(endpoint);
            }
        }
    }
}
