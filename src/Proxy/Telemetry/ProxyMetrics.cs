using System.Diagnostics.Metrics;

namespace Portal.Proxy.Telemetry;

/// <summary>
/// Counters of the proxy, as a <see cref="Meter"/> named <c>Portal.Proxy</c> (readable with dotnet-counters) and as
/// plain numbers for status pages and tests.
/// </summary>
public sealed class ProxyMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Portal.Proxy";

    private readonly Meter _meter;
    private readonly Counter<long> _connections;
    private readonly Counter<long> _frames;
    private readonly Counter<long> _bytes;
    private long _active;
    private long _activeUpstream;
    private long _total;

    /// <summary>Creates the meter through the host's factory.</summary>
    public ProxyMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _meter = meterFactory.Create(MeterName);
        _connections = _meter.CreateCounter<long>("portal.proxy.connections", description: "Proxied connections accepted");
        _frames = _meter.CreateCounter<long>("portal.proxy.frames", description: "Messages forwarded");
        _bytes = _meter.CreateCounter<long>("portal.proxy.bytes", unit: "By", description: "Payload bytes forwarded");
        _meter.CreateObservableGauge("portal.proxy.active_connections", () => ActiveConnections, description: "Open client connections");
        _meter.CreateObservableGauge("portal.proxy.active_upstreams", () => ActiveUpstreamConnections, description: "Open upstream connections");
    }

    /// <summary>Client connections open now.</summary>
    public long ActiveConnections => Interlocked.Read(ref _active);

    /// <summary>Upstream connections open now.</summary>
    public long ActiveUpstreamConnections => Interlocked.Read(ref _activeUpstream);

    /// <summary>Client connections accepted since start.</summary>
    public long TotalConnections => Interlocked.Read(ref _total);

    internal void ConnectionOpened()
    {
        Interlocked.Increment(ref _active);
        Interlocked.Increment(ref _total);
        _connections.Add(1);
    }

    internal void ConnectionClosed() => Interlocked.Decrement(ref _active);

    internal void UpstreamOpened() => Interlocked.Increment(ref _activeUpstream);

    internal void UpstreamClosed() => Interlocked.Decrement(ref _activeUpstream);

    internal void Forwarded(FrameDirection direction, long size)
    {
        var tag = new KeyValuePair<string, object?>("direction", direction == FrameDirection.ClientToUpstream ? "in" : "out");
        _frames.Add(1, tag);
        _bytes.Add(size, tag);
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
