using System.Buffers;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Portal.Benchmarks.Proxy;

/// <summary>A loopback WebSocket echo server: every message goes back as it came (type and bytes), the config included.</summary>
internal sealed class EchoUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _open;

    private EchoUpstream(WebApplication app)
    {
        _app = app;
        Port = new Uri(app.Urls.First()).Port;
    }

    public int Port { get; }
    public int OpenConnections => Volatile.Read(ref _open);

    public static async Task<EchoUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentConnections = null);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        EchoUpstream? echo = null;
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        app.Run(context => echo!.ServeAsync(context));
        await app.StartAsync();
        echo = new EchoUpstream(app);
        return echo;
    }

    private async Task ServeAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        Interlocked.Increment(ref _open);
        try
        {
            while (true)
            {
                // Idle connections wait without a buffer, like the proxy's own pumps.
                var head = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                if (head.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    return;
                }
                if (head.EndOfMessage)
                {
                    await socket.SendAsync(ReadOnlyMemory<byte>.Empty, head.MessageType, true, CancellationToken.None);
                    continue;
                }
                var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                try
                {
                    while (true)
                    {
                        var result = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                        await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, CancellationToken.None);
                        if (result.EndOfMessage)
                        {
                            break;
                        }
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>The echo server as its own process (`Benchmarks echo`): prints its port, serves until killed.</summary>
    public static async Task<int> ServeUntilKilledAsync(string[] args)
    {
        await using var echo = await StartAsync();
        Console.WriteLine(echo.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Task.Delay(Timeout.Infinite);
        return 0;
    }
}

/// <summary>The echo upstream in a process of its own, so that it shares no thread pool with the client or a proxy.</summary>
internal sealed class EchoProcess : IAsyncDisposable
{
    private readonly System.Diagnostics.Process _process;

    private EchoProcess(System.Diagnostics.Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public static async Task<EchoProcess> StartAsync()
    {
        var start = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Benchmarks.dll"));
        start.ArgumentList.Add("echo");
        var process = System.Diagnostics.Process.Start(start)!;
        var port = int.Parse((await process.StandardOutput.ReadLineAsync())!, System.Globalization.CultureInfo.InvariantCulture);
        return new EchoProcess(process, port);
    }

    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    public ValueTask DisposeAsync()
    {
        _process.Kill(entireProcessTree: true);
        return ValueTask.CompletedTask;
    }
}
