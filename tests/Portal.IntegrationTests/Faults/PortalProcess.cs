using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Portal.Testing;

namespace Portal.IntegrationTests.Faults;

/// <summary>
/// The built Portal.dll (the one beside these tests) in a process of its own, on 127.0.0.1, with its SQLite database
/// in <see cref="Folder"/> (the working directory, so <c>data/portal.db</c>), an administrator, and the given settings
/// as environment variables. <see cref="KillAsync"/> is SIGKILL: no shutdown, no flush, as after a crash.
/// </summary>
internal sealed class PortalProcess : IAsyncDisposable
{
    public const string AdminEmail = "faults@portal.test";
    public const string AdminPassword = "Faults-passw0rd!";

    private readonly Process _process;
    private readonly StringBuilder _output;

    private PortalProcess(Process process, StringBuilder output, string folder, int port)
    {
        _process = process;
        _output = output;
        Folder = folder;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
    }

    public Uri BaseAddress { get; }
    public string Folder { get; }
    public string DatabasePath => Path.Combine(Folder, "data", "portal.db");
    public int Id => _process.Id;

    /// <summary>What the process wrote to stdout and stderr so far (warnings and up).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static async Task<PortalProcess> StartAsync(string folder, IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        var port = FreePort();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Portal.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Portal__Admin__Email"] = AdminEmail;
        start.Environment["Portal__Admin__Password"] = AdminPassword;
        // The fault tests load Portal from one user and one address far past what Portal:Limits lets a client do.
        start.Environment["Portal__Limits__Enabled"] = "false";
        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }
        var output = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var portal = new PortalProcess(process, output, folder, port);
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

    /// <summary>SIGKILL, then waits for the process to be gone.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(); // SIGKILL on Unix: nothing of Portal runs after it
        }
        await _process.WaitForExitAsync(CancellationToken.None);
    }

    /// <summary>Polls <c>/health/ready</c> until it answers 200 (start-up includes migrations and recovery).</summary>
    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(90))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Portal exited with {_process.ExitCode} during start-up:\n{Output}");
            }
            try
            {
                using var response = await http.GetAsync("/health/ready", cancellationToken);
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

    public Task<CookieContainer> SignInAsync() => AgentSocketClient.SignInAsync(BaseAddress, AdminEmail, AdminPassword);

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
