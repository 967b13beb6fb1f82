using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Portal.Testing;

/// <summary>How <see cref="PortalProcess"/> starts Portal. What is not set is left as Portal's own defaults.</summary>
public sealed record PortalProcessOptions
{
    /// <summary>The working directory: Portal keeps <c>data/portal.db</c> (and its keys) in it.</summary>
    public required string Folder { get; init; }

    /// <summary>The port on 127.0.0.1; a free one when null.</summary>
    public int? Port { get; init; }

    /// <summary>Environment variables on top of the ones below (<c>Portal__Section__Key</c>, or the seed's names).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary><c>Logging__LogLevel__Default</c>; Portal's appsettings.json decides when null.</summary>
    public string? LogLevel { get; init; }

    /// <summary>The administrator created at the first start; none when null, and Portal prints a one-time setup link instead.</summary>
    public (string Email, string Password)? Admin { get; init; }

    /// <summary>
    /// Turns <c>Portal:Limits</c> off, for callers that load Portal from one user and one address far past what the
    /// limits let a client do.
    /// </summary>
    public bool LimitsOff { get; init; }

    /// <summary>Drops the <c>Portal__*</c> variables this process inherited, so the one started sees only what is set here.</summary>
    public bool WithoutInheritedSettings { get; init; }

    /// <summary>Keeps what Portal writes to stdout and stderr, for <see cref="PortalProcess.Output"/> and <see cref="PortalProcess.WaitForOutputAsync"/>; otherwise it is read and dropped.</summary>
    public bool CaptureOutput { get; init; } = true;
}

/// <summary>
/// The built Portal.dll (the one beside the running assembly: Debug for the tests, Release for the benchmarks) in a
/// process of its own, in Production, listening on 127.0.0.1. Used by the tests that kill Portal or watch its first
/// start, and by the benchmarks that measure it apart from their clients.
/// </summary>
public sealed class PortalProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly bool _capture;
    private readonly List<string> _lines = [];
    private readonly Lock _gate = new();
    private TaskCompletionSource _written = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openStreams = 2;

    private PortalProcess(Process process, PortalProcessOptions options, int port)
    {
        _process = process;
        _capture = options.CaptureOutput;
        Folder = options.Folder;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
    }

    public Uri BaseAddress { get; }
    public string Folder { get; }
    public string DatabasePath => Path.Combine(Folder, "data", "portal.db");
    public int Id => _process.Id;

    /// <summary>The process itself, for callers that signal or measure it.</summary>
    public Process Process => _process;

    /// <summary>What the process wrote to stdout and stderr so far, line by line (empty unless captured).</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return string.Join(Environment.NewLine, _lines);
            }
        }
    }

    /// <summary>Starts Portal and returns at once; see <see cref="StartAsync"/> to wait until it is ready.</summary>
    public static PortalProcess Start(PortalProcessOptions options)
    {
        var port = options.Port ?? FreePort();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = options.Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Portal.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        if (options.WithoutInheritedSettings)
        {
            foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("Portal__", StringComparison.OrdinalIgnoreCase)).ToList())
            {
                start.Environment.Remove(key);
            }
        }
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        if (options.LogLevel is not null)
        {
            start.Environment["Logging__LogLevel__Default"] = options.LogLevel;
        }
        if (options.Admin is { } admin)
        {
            start.Environment["Portal__Admin__Email"] = admin.Email;
            start.Environment["Portal__Admin__Password"] = admin.Password;
        }
        if (options.LimitsOff)
        {
            start.Environment["Portal__Limits__Enabled"] = "false";
        }
        foreach (var (key, value) in options.Settings)
        {
            start.Environment[key] = value;
        }
        var process = new Process { StartInfo = start };
        var portal = new PortalProcess(process, options, port);
        // Both streams are always read, captured or not: a full pipe would block Portal's logging.
        process.OutputDataReceived += (_, e) => portal.Written(e.Data);
        process.ErrorDataReceived += (_, e) => portal.Written(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return portal;
    }

    /// <summary>Starts Portal and waits until it is ready (<see cref="WaitUntilReadyAsync"/>); a Portal that does not get there is killed.</summary>
    public static async Task<PortalProcess> StartAsync(PortalProcessOptions options, CancellationToken cancellationToken)
    {
        var portal = Start(options);
        try
        {
            await portal.WaitUntilReadyAsync(cancellationToken);
        }
        catch
        {
            await portal.DisposeAsync();
            throw;
        }
        return portal;
    }

    /// <summary>Polls <c>/health/ready</c> until it answers 200 (start-up includes migrations and recovery), for at most 90 s.</summary>
    public async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(90))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Portal exited with {_process.ExitCode} during start-up:\n{Output}");
            }
            try
            {
                using var response = await http.GetAsync(new Uri("/health/ready", UriKind.Relative), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
            await Task.Delay(100, cancellationToken);
        }
        throw new TimeoutException($"Portal was not ready within 90 s:\n{Output}");
    }

    /// <summary>
    /// Waits for the first line of output (stdout or stderr, since the start) that <paramref name="pattern"/> matches,
    /// and returns the match; fails when Portal ends its output first or <paramref name="timeout"/> passes.
    /// </summary>
    public async Task<string> WaitForOutputAsync(Regex pattern, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_capture)
        {
            throw new InvalidOperationException("This Portal's output is not captured (PortalProcessOptions.CaptureOutput).");
        }
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        var seen = 0;
        while (true)
        {
            Task written;
            bool ended;
            lock (_gate)
            {
                for (; seen < _lines.Count; seen++)
                {
                    if (pattern.Match(_lines[seen]) is { Success: true } match)
                    {
                        return match.Value;
                    }
                }
                (written, ended) = (_written.Task, _openStreams == 0);
            }
            if (ended)
            {
                throw new InvalidOperationException($"Portal ended its output without a line matching {pattern}:\n{Output}");
            }
            try
            {
                await written.WaitAsync(limit.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"No line matching {pattern} within {timeout.TotalSeconds:0} s:\n{Output}");
            }
        }
    }

    /// <summary>SIGKILL (to Portal and anything it started), then waits for the process to be gone: nothing of Portal runs after it, as after a crash.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    /// <summary>A port nothing listens on now (another process may still take it before Portal does).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>One line of stdout or stderr; null when that stream ended.</summary>
    private void Written(string? line)
    {
        TaskCompletionSource written;
        lock (_gate)
        {
            if (line is null)
            {
                _openStreams--;
            }
            else if (_capture)
            {
                _lines.Add(line);
            }
            else
            {
                return;
            }
            written = _written;
            _written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        written.TrySetResult();
    }
}
