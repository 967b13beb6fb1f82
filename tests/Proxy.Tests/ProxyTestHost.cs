using System.Collections.Concurrent;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Proxy;
using Portal.Proxy.Telemetry;
using Portal.Testing.Fakes;

namespace Proxy.Tests;

/// <summary>
/// A host with only the CES proxy, on real Kestrel at 127.0.0.1, its upstream templates pointing at a fake CES and its
/// credentials at a fake OAuth endpoint (through a real service-account key file and Google.Apis.Auth).
/// </summary>
internal sealed class ProxyTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ProxyTestHost(WebApplication app, FakeCesUpstream upstream, FakeOAuthServer oauth)
    {
        _app = app;
        Upstream = upstream;
        OAuth = oauth;
        BaseAddress = new Uri(app.Urls.First());
    }

    public Uri BaseAddress { get; }
    public Uri WebSocketUri => new($"ws://{BaseAddress.Authority}/ces");
    public FakeCesUpstream Upstream { get; }
    public FakeOAuthServer OAuth { get; }
    public RecordingObserver Observer => (RecordingObserver)_app.Services.GetRequiredService<ICesProxyObserver>();
    public ProxyMetrics Metrics => _app.Services.GetRequiredService<ProxyMetrics>();
    public IServiceProvider Services => _app.Services;

    public static async Task<ProxyTestHost> StartAsync(Dictionary<string, string?>? settings = null, string urls = "http://127.0.0.1:0")
    {
        var upstream = await FakeCesUpstream.StartAsync();
        var oauth = await FakeOAuthServer.StartAsync();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(urls);
        var config = new Dictionary<string, string?>
        {
            ["CesProxy:AppsEndpointTemplate"] = upstream.AppsTemplate,
            ["CesProxy:AgentsEndpointTemplate"] = upstream.AgentsTemplate,
            ["CesProxy:TextApiBaseUrl"] = upstream.BaseAddress.ToString(),
            ["CesProxy:CredentialsFile"] = oauth.CredentialsFile,
            ["CesProxy:CloseTimeout"] = "00:00:03",
        };
        foreach (var (key, value) in settings ?? [])
        {
            config[key] = value;
        }
        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new Portal.Testing.TestOutputLoggerProvider());
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Services.AddCesProxy();
        builder.Services.AddSingleton<ICesProxyObserver, RecordingObserver>();
        builder.WebHost.UseCesProxyListener(builder.Configuration);
        try
        {
            var app = builder.Build();
            app.UseCesProxyListener();
            app.MapCesProxy("/ces");
            await app.StartAsync();
            return new ProxyTestHost(app, upstream, oauth);
        }
        catch
        {
            await upstream.DisposeAsync();
            await oauth.DisposeAsync();
            throw;
        }
    }

    public Task<WidgetClient> ConnectAsync(string? origin = "https://shop.example.com") => WidgetClient.ConnectAsync(WebSocketUri, origin);

    /// <summary>Waits until the proxy holds no connection on either leg: nothing leaked.</summary>
    public async Task AssertNoLeaksAsync(int timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (Metrics.ActiveConnections > 0 || Metrics.ActiveUpstreamConnections > 0 || Upstream.OpenConnections > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Still open after {timeoutSeconds} s: {Metrics.ActiveConnections} client legs, " +
                    $"{Metrics.ActiveUpstreamConnections} upstream legs, {Upstream.OpenConnections} at the upstream.");
            }
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Upstream.DisposeAsync();
        await OAuth.DisposeAsync();
    }
}

/// <summary>Keeps everything the proxy reports, for assertions.</summary>
internal sealed class RecordingObserver : ICesProxyObserver
{
    public ConcurrentQueue<RecordedConnection> Connections { get; } = new();
    public ConcurrentQueue<CesTextExchange> TextExchanges { get; } = new();

    public ValueTask<ICesConnectionObserver> ConnectionOpenedAsync(CesConnectionInfo connection, CancellationToken cancellationToken)
    {
        var recorded = new RecordedConnection(connection);
        Connections.Enqueue(recorded);
        return new(recorded);
    }

    public ValueTask TextExchangeAsync(CesTextExchange exchange, CancellationToken cancellationToken)
    {
        TextExchanges.Enqueue(exchange);
        return default;
    }

    public async Task<RecordedConnection> ClosedConnectionAsync(int index = 0, int timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (Connections.Count > index && Connections.ElementAt(index).Close is not null)
            {
                return Connections.ElementAt(index);
            }
            await Task.Delay(10);
        }
        throw new TimeoutException("The proxy reported no close.");
    }
}

internal sealed class RecordedConnection(CesConnectionInfo info) : ICesConnectionObserver
{
    public CesConnectionInfo Info { get; } = info;
    public CesConfigInfo? Config { get; private set; }
    public string? ForwardedConfig { get; private set; }
    public TimeSpan? ConnectTime { get; private set; }
    public TimeSpan? FirstUpstreamByte { get; private set; }
    public ConcurrentQueue<(FrameDirection Direction, FrameKind Kind, WebSocketMessageType Type, string Recorded, long Size)> Frames { get; } = new();
    public CesCloseInfo? Close { get; private set; }

    public ValueTask ConfigAcceptedAsync(CesConfigInfo config, CancellationToken cancellationToken)
    {
        Config = config;
        ForwardedConfig = System.Text.Encoding.UTF8.GetString(config.Forwarded.Span);
        return default;
    }

    public ValueTask UpstreamConnectedAsync(Uri upstream, TimeSpan connectTime, CancellationToken cancellationToken)
    {
        ConnectTime = connectTime;
        return default;
    }

    public ValueTask FirstUpstreamByteAsync(TimeSpan sinceConfigSent, CancellationToken cancellationToken)
    {
        FirstUpstreamByte = sinceConfigSent;
        return default;
    }

    public ValueTask FrameAsync(FrameDirection direction, FrameKind kind, WebSocketMessageType type, ReadOnlyMemory<byte> recorded, long size, CancellationToken cancellationToken)
    {
        Frames.Enqueue((direction, kind, type, System.Text.Encoding.UTF8.GetString(recorded.Span), size));
        return default;
    }

    public ValueTask ClosedAsync(CesCloseInfo close, CancellationToken cancellationToken)
    {
        Close = close;
        return default;
    }
}
