using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Proxy.Authentication;
using Portal.Proxy.Configuration;
using Portal.Proxy.Telemetry;

namespace Portal.Proxy.Forwarding;

/// <summary>What every proxied connection shares, parsed from the options once.</summary>
internal sealed class ProxyServices
{
    public ProxyServices(
        IOptions<CesProxyOptions> options,
        IAccessTokenSource tokens,
        UpstreamConnector connector,
        ICesProxyObserver observer,
        ProxyMetrics metrics,
        TimeProvider time,
        ILoggerFactory loggers,
        IHostApplicationLifetime lifetime)
    {
        Stopping = lifetime.ApplicationStopping;
        Options = options.Value;
        Settings = ProxySettings.From(Options);
        Origins = new OriginPolicy(Settings);
        Stripper = new KeyStripper(Settings.StrippedPaths);
        Tokens = tokens;
        Connector = connector;
        Observer = observer;
        Metrics = metrics;
        Time = time;
        Loggers = loggers;
    }

    public CesProxyOptions Options { get; }
    public ProxySettings Settings { get; }
    public OriginPolicy Origins { get; }
    public KeyStripper Stripper { get; }
    public IAccessTokenSource Tokens { get; }
    public UpstreamConnector Connector { get; }
    public ICesProxyObserver Observer { get; }
    public ProxyMetrics Metrics { get; }
    public TimeProvider Time { get; }
    public ILoggerFactory Loggers { get; }
    /// <summary>Fires when the host begins to stop: open connections are closed with 1001.</summary>
    public CancellationToken Stopping { get; }
}
