using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Options;

namespace Portal.Security.Limits;

/// <summary>Which limit refused something.</summary>
public enum LimitKind
{
    ConnectionsPerUser,
    ConnectionsPerIp,
    SessionsPerHourPerUser,
    SessionsPerHourPerIp,
    MessagesPerSecondPerUser,
    ApiRequestsPerMinute,
}

/// <summary>A refusal: which limit, its value, and when trying again can succeed.</summary>
public sealed record LimitRefusal(LimitKind Kind, int Limit, TimeSpan RetryAfter, string Message);

/// <summary>Thrown where a limit refuses something that has no status code of its own to answer with (the chat page).</summary>
public sealed class LimitExceededException(LimitRefusal refusal) : Exception(refusal.Message)
{
    public LimitRefusal Refusal { get; } = refusal;
}

/// <summary>How often each limit refused something since start, for the status page.</summary>
public sealed record LimitCount(LimitKind Kind, string Name, double Limit, long Refused);

/// <summary>
/// The per-user and per-IP limits of <see cref="LimitsOptions"/>, kept in memory: open connections per endpoint,
/// sessions started in the last hour (a sliding window), a shared message bucket per user, and counters of what each
/// limit refused. Keys are the user id for signed-in clients and the address otherwise; an IPv6 client counts by its
/// /64, since one machine commonly holds a whole /64.
/// </summary>
public sealed class ClientLimits(IOptionsMonitor<LimitsOptions> options, TimeProvider time)
{
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SlidingHour> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SharedBucket> _messages = new(StringComparer.Ordinal);
    private readonly long[] _refused = new long[Enum.GetValues<LimitKind>().Length];

    private static readonly LimitsOptions Off = new()
    {
        ConnectionsPerUser = 0, ConnectionsPerIp = 0, SessionsPerHourPerUser = 0, SessionsPerHourPerIp = 0, MessagesPerSecondPerUser = 0, ApiRequestsPerMinute = 0,
    };

    /// <summary>The limits in force: the configured ones, or all 0 (off) when <see cref="LimitsOptions.Enabled"/> is false.</summary>
    public LimitsOptions Current => options.CurrentValue is { Enabled: false } ? Off : options.CurrentValue;

    /// <summary>
    /// Counts a connection of <paramref name="endpoint"/> for the user (when signed in) and the address; null with the
    /// refusal when either is at its limit. Dispose the lease when the connection ends.
    /// </summary>
    public IDisposable? TryOpenConnection(string endpoint, string? userId, IPAddress? address, out LimitRefusal? refusal)
    {
        var limits = Current;
        var userKey = userId is null ? null : $"{endpoint}|u|{userId}";
        var ipKey = $"{endpoint}|ip|{AddressKey(address)}";
        if (userKey is not null && !TryIncrement(userKey, limits.ConnectionsPerUser))
        {
            refusal = Refuse(LimitKind.ConnectionsPerUser, limits.ConnectionsPerUser, TimeSpan.FromSeconds(5),
                $"You have {limits.ConnectionsPerUser} connections open to {endpoint}, the most one user may have. Close one and try again.");
            return null;
        }
        if (!TryIncrement(ipKey, limits.ConnectionsPerIp))
        {
            if (userKey is not null)
            {
                Decrement(userKey);
            }
            refusal = Refuse(LimitKind.ConnectionsPerIp, limits.ConnectionsPerIp, TimeSpan.FromSeconds(5),
                $"Your address has {limits.ConnectionsPerIp} connections open to {endpoint}, the most one address may have. Close one and try again.");
            return null;
        }
        refusal = null;
        return new Lease(this, userKey, ipKey);
    }

    /// <summary>Takes one new session from the user's and the address's hourly allowance; false with the refusal when either is used up.</summary>
    public bool TryStartSession(string? userId, IPAddress? address, out LimitRefusal? refusal)
    {
        var limits = Current;
        var now = time.GetTimestamp();
        var user = userId is null || limits.SessionsPerHourPerUser == 0 ? null : _sessions.GetOrAdd("u|" + userId, _ => new SlidingHour());
        var ip = address is null || limits.SessionsPerHourPerIp == 0 ? null : _sessions.GetOrAdd("ip|" + AddressKey(address), _ => new SlidingHour());
        if (user is not null && !user.CanTake(limits.SessionsPerHourPerUser, now, time, out var userWait))
        {
            refusal = Refuse(LimitKind.SessionsPerHourPerUser, limits.SessionsPerHourPerUser, userWait,
                $"You started {limits.SessionsPerHourPerUser} sessions in the last hour, the most one user may. Try again in {Minutes(userWait)}, or continue an existing session.");
            return false;
        }
        if (ip is not null && !ip.CanTake(limits.SessionsPerHourPerIp, now, time, out var ipWait))
        {
            refusal = Refuse(LimitKind.SessionsPerHourPerIp, limits.SessionsPerHourPerIp, ipWait,
                $"Your address started {limits.SessionsPerHourPerIp} sessions in the last hour, the most one address may. Try again in {Minutes(ipWait)}.");
            return false;
        }
        user?.Take(now);
        ip?.Take(now);
        refusal = null;
        return true;
    }

    /// <summary>The message bucket all of one user's socket connections share, or null when the limit is off or the client is anonymous.</summary>
    public SharedBucket? MessagesOf(string? userId)
    {
        var rate = Current.MessagesPerSecondPerUser;
        return userId is null || rate <= 0 ? null : _messages.GetOrAdd(userId, _ => new SharedBucket(this, time));
    }

    /// <summary>Counts a refusal made elsewhere (the API rate limiter).</summary>
    public void CountRefusal(LimitKind kind) => Interlocked.Increment(ref _refused[(int)kind]);

    public IReadOnlyList<LimitCount> Counts()
    {
        var limits = Current;
        return
        [
            new(LimitKind.ConnectionsPerUser, "Connections per user, per endpoint", limits.ConnectionsPerUser, Read(LimitKind.ConnectionsPerUser)),
            new(LimitKind.ConnectionsPerIp, "Connections per IP, per endpoint", limits.ConnectionsPerIp, Read(LimitKind.ConnectionsPerIp)),
            new(LimitKind.SessionsPerHourPerUser, "Sessions per hour per user", limits.SessionsPerHourPerUser, Read(LimitKind.SessionsPerHourPerUser)),
            new(LimitKind.SessionsPerHourPerIp, "Sessions per hour per IP", limits.SessionsPerHourPerIp, Read(LimitKind.SessionsPerHourPerIp)),
            new(LimitKind.MessagesPerSecondPerUser, "Messages per second per user", limits.MessagesPerSecondPerUser, Read(LimitKind.MessagesPerSecondPerUser)),
            new(LimitKind.ApiRequestsPerMinute, "API requests per minute", limits.ApiRequestsPerMinute, Read(LimitKind.ApiRequestsPerMinute)),
        ];
    }

    /// <summary>The partition key of a client: IPv4 as is, IPv6 by its /64.</summary>
    public static string AddressKey(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private long Read(LimitKind kind) => Interlocked.Read(ref _refused[(int)kind]);

    private LimitRefusal Refuse(LimitKind kind, int limit, TimeSpan retryAfter, string message)
    {
        CountRefusal(kind);
        return new LimitRefusal(kind, limit, retryAfter, message);
    }

    private static string Minutes(TimeSpan wait) => wait.TotalMinutes < 1 ? "a minute" : $"{Math.Ceiling(wait.TotalMinutes):0} minutes";

    private bool TryIncrement(string key, int limit)
    {
        while (true)
        {
            var current = _open.GetOrAdd(key, 0);
            if (limit > 0 && current >= limit)
            {
                return false;
            }
            if (_open.TryUpdate(key, current + 1, current))
            {
                return true;
            }
        }
    }

    private void Decrement(string key)
    {
        while (_open.TryGetValue(key, out var current))
        {
            if (current <= 1 ? _open.TryRemove(new KeyValuePair<string, int>(key, current)) : _open.TryUpdate(key, current - 1, current))
            {
                return;
            }
        }
    }

    private sealed class Lease(ClientLimits owner, string? userKey, string ipKey) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                if (userKey is not null)
                {
                    owner.Decrement(userKey);
                }
                owner.Decrement(ipKey);
            }
        }
    }

    /// <summary>Start times of the sessions of the last hour, oldest first.</summary>
    private sealed class SlidingHour
    {
        private readonly Queue<long> _starts = new();

        public bool CanTake(int limit, long now, TimeProvider time, out TimeSpan wait)
        {
            lock (_starts)
            {
                while (_starts.Count > 0 && time.GetElapsedTime(_starts.Peek(), now) >= Hour)
                {
                    _starts.Dequeue();
                }
                wait = _starts.Count < limit ? TimeSpan.Zero : Hour - time.GetElapsedTime(_starts.Peek(), now);
                return _starts.Count < limit;
            }
        }

        public void Take(long now)
        {
            lock (_starts)
            {
                _starts.Enqueue(now);
            }
        }
    }

    /// <summary>A token bucket shared by all connections of one user: one second's worth of burst, then the rate.</summary>
    public sealed class SharedBucket(ClientLimits owner, TimeProvider time)
    {
        private readonly Lock _gate = new();
        private double _tokens = Math.Max(1, owner.Current.MessagesPerSecondPerUser);
        private long _last = time.GetTimestamp();

        public double Rate => owner.Current.MessagesPerSecondPerUser;

        public bool TryTake()
        {
            var rate = Rate;
            if (rate <= 0)
            {
                return true;
            }
            lock (_gate)
            {
                var now = time.GetTimestamp();
                _tokens = Math.Min(Math.Max(1, rate), _tokens + time.GetElapsedTime(_last, now).TotalSeconds * rate);
                _last = now;
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    return true;
                }
            }
            owner.CountRefusal(LimitKind.MessagesPerSecondPerUser);
            return false;
        }
    }
}
