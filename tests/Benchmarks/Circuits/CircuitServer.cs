using System.Diagnostics;
using System.Globalization;
using Portal.Benchmarks.Proxy;

namespace Portal.Benchmarks.Circuits;

/// <summary>A Blazor Server app in a process of its own, fresh folder, with the <see cref="ServerProbe"/> inside.</summary>
internal sealed class CircuitServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _folder;
    private readonly int _probePort;

    private CircuitServer(string name, Process process, string folder, int port, int probePort)
    {
        Name = name;
        _process = process;
        _folder = folder;
        _probePort = probePort;
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
    }

    public string Name { get; }
    public Uri BaseAddress { get; }
    public int ProcessId => _process.Id;
    public bool IsPortal => Name == "Portal";

    /// <summary>
    /// Portal's Release build (<see cref="ProcessTools.StartPortal"/>: its own SQLite file, an administrator), with extra
    /// settings. <paramref name="prepare"/>, if given, runs against a first Portal on the same folder, which then shuts
    /// down, so that what it leaves is in the database and not in the measured process's memory.
    /// </summary>
    public static async Task<CircuitServer> StartPortalAsync(Dictionary<string, string>? settings = null, Func<CircuitServer, Task>? prepare = null)
    {
        var folder = Directory.CreateTempSubdirectory("portal-bench-circuits-").FullName;
        if (prepare is not null)
        {
            var first = await StartPortalInAsync(folder, settings);
            try
            {
                await prepare(first);
            }
            finally
            {
                await first.ShutDownAsync();
            }
        }
        return await StartPortalInAsync(folder, settings);
    }

    private static async Task<CircuitServer> StartPortalInAsync(string folder, Dictionary<string, string>? settings)
    {
        var port = ProcessTools.FreePort();
        var probePort = ProcessTools.FreePort();
        var all = new Dictionary<string, string>(settings ?? []) { [ServerProbe.PortVariable] = probePort.ToString(CultureInfo.InvariantCulture), ["DOTNET_STARTUP_HOOKS"] = typeof(ServerProbe).Assembly.Location };
        // The server is stopped with SIGTERM as well as killed, like the minimal app: it keeps the process, not the starter.
        var process = ProcessTools.StartPortal(folder, port, all).Process;
        var server = new CircuitServer("Portal", process, folder, port, probePort);
        await server.WaitUntilUpAsync(port);
        return server;
    }

    /// <summary>The <see cref="MinimalBlazorApp"/>, run by this benchmark's own executable.</summary>
    public static async Task<CircuitServer> StartMinimalAsync()
    {
        var folder = Directory.CreateTempSubdirectory("portal-bench-minimal-").FullName;
        var port = ProcessTools.FreePort();
        var probePort = ProcessTools.FreePort();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { typeof(ServerProbe).Assembly.Location, "minimal-blazor", "--port", port.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment[ServerProbe.PortVariable] = probePort.ToString(CultureInfo.InvariantCulture);
        start.Environment["DOTNET_STARTUP_HOOKS"] = typeof(ServerProbe).Assembly.Location;
        var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        var server = new CircuitServer("minimal Blazor app", process, folder, port, probePort);
        await server.WaitUntilUpAsync(port);
        return server;
    }

    private async Task WaitUntilUpAsync(int port)
    {
        try
        {
            await ProcessTools.WaitForPortAsync(port);
            await ProcessTools.WaitForPortAsync(_probePort);
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>VmRSS of the server process.</summary>
    public long ResidentBytes() => ProcessTools.ResidentBytesWithChildren(_process.Id);

    public TimeSpan CpuTime() => ProcessTools.CpuTimeWithChildren(_process.Id);

    public Task<ProbeReading> ReadAsync(CancellationToken cancellationToken) => ServerProbe.ReadAsync(_probePort, collect: false, cancellationToken);

    /// <summary>Forces a full compacting collection in the server, then reads.</summary>
    public Task<ProbeReading> CollectAsync(CancellationToken cancellationToken) => ServerProbe.ReadAsync(_probePort, collect: true, cancellationToken);

    /// <summary>Waits until the server holds <paramref name="circuits"/> circuits, or gives up after <paramref name="limit"/>; returns the last count.</summary>
    public async Task<long> WaitForCircuitsAsync(long circuits, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var now = (await ReadAsync(cancellationToken)).Circuits;
            if (now == circuits || deadline.Elapsed > limit)
            {
                return now;
            }
            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>SIGTERM, so the server shuts down as in production (Portal flushes its session log); the folder stays.</summary>
    private async Task ShutDownAsync()
    {
        ProcessTools.Run("kill", $"-TERM {_process.Id}");
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
