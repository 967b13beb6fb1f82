using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Portal.Testing;

namespace Portal.Benchmarks.Proxy;

/// <summary>Something between the client and the echo upstream, running in its own process (or nothing: direct).</summary>
internal interface IIntermediary : IAsyncDisposable
{
    string Name { get; }

    /// <summary>Where a widget connects.</summary>
    Uri WebSocketUri { get; }

    /// <summary>Resident memory of the intermediary's processes, in bytes (0 when there is none).</summary>
    long ResidentBytes();

    /// <summary>CPU time its processes used so far.</summary>
    TimeSpan CpuTime();
}

internal sealed class Direct(int echoPort) : IIntermediary
{
    public string Name => "direct (the limit)";
    public Uri WebSocketUri { get; } = new($"ws://127.0.0.1:{echoPort}/ws/us");
    public long ResidentBytes() => 0;
    public TimeSpan CpuTime() => TimeSpan.Zero;
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>nginx from Debian (nginx-light), as a WebSocket reverse proxy: upgrade headers, proxy_buffering off, long read timeout.</summary>
internal sealed class Nginx : IIntermediary
{
    private readonly Process _process;
    private readonly string _folder;

    private Nginx(Process process, string folder, int port, string version)
    {
        _process = process;
        _folder = folder;
        WebSocketUri = new Uri($"ws://127.0.0.1:{port}/ws/us");
        Name = $"nginx {version} (proxy_buffering off)";
    }

    public string Name { get; }
    public Uri WebSocketUri { get; }

    public static async Task<Nginx> StartAsync(int echoPort)
    {
        var binary = File.Exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : throw new InvalidOperationException(
            "nginx is not installed: apt-get install -y nginx-light");
        var folder = Directory.CreateTempSubdirectory("portal-bench-nginx-").FullName;
        var port = ProcessTools.FreePort();
        File.WriteAllText(Path.Combine(folder, "nginx.conf"), $$"""
            worker_processes auto;
            worker_rlimit_nofile 20000;
            pid {{folder}}/nginx.pid;
            error_log {{folder}}/error.log warn;
            events { worker_connections 16384; }
            http {
                access_log off;
                client_body_temp_path {{folder}}/body;
                proxy_temp_path {{folder}}/proxy;
                map $http_upgrade $connection_upgrade { default upgrade; '' close; }
                server {
                    listen 127.0.0.1:{{port}};
                    location / {
                        proxy_pass http://127.0.0.1:{{echoPort}};
                        proxy_http_version 1.1;
                        proxy_set_header Upgrade $http_upgrade;
                        proxy_set_header Connection $connection_upgrade;
                        proxy_set_header Host $host;
                        proxy_buffering off;
                        proxy_read_timeout 3600s;
                        proxy_send_timeout 3600s;
                    }
                }
            }
            """);
        var start = new ProcessStartInfo(binary) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-p", folder, "-c", Path.Combine(folder, "nginx.conf"), "-g", "daemon off;" })
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start)!;
        await ProcessTools.WaitForPortAsync(port);
        var version = ProcessTools.Run(binary, "-v").Replace("nginx version: nginx/", "", StringComparison.Ordinal).Trim();
        return new Nginx(process, folder, port, version);
    }

    public long ResidentBytes() => ProcessTools.ResidentBytesWithChildren(_process.Id);

    public TimeSpan CpuTime() => ProcessTools.CpuTimeWithChildren(_process.Id);

    public async ValueTask DisposeAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        Directory.Delete(_folder, recursive: true);
    }
}

/// <summary>Portal itself (the published app, Release), its CES proxy's upstream template pointing at the echo server.</summary>
internal sealed class PortalProxy : IIntermediary
{
    private readonly PortalProcess _portal;
    private readonly string _folder;

    private PortalProxy(PortalProcess portal, string folder, int port, bool recordFrames)
    {
        _portal = portal;
        _folder = folder;
        WebSocketUri = new Uri($"ws://127.0.0.1:{port}/ces");
        Name = recordFrames ? "Portal /ces (text frames recorded)" : "Portal /ces (frames counted only)";
    }

    public string Name { get; }
    public Uri WebSocketUri { get; }

    public static async Task<PortalProxy> StartAsync(int echoPort, bool recordFrames = true)
    {
        var folder = Directory.CreateTempSubdirectory("portal-bench-portal-").FullName;
        var port = ProcessTools.FreePort();
        var portal = ProcessTools.StartPortal(folder, port, new Dictionary<string, string>
        {
            ["PS_ENDPOINT_TEMPLATE"] = $"ws://127.0.0.1:{echoPort}/ws/{{location}}",
            ["CesProxy__IdleTimeout"] = "00:00:00",
            ["CesProxy__KeepAliveInterval"] = "00:00:00",
            ["Portal__CesRecording__RecordFrames"] = recordFrames ? "true" : "false",
        });
        await ProcessTools.WaitForPortAsync(port);
        return new PortalProxy(portal, folder, port, recordFrames);
    }

    public long ResidentBytes() => ProcessTools.ResidentBytesWithChildren(_portal.Id);

    public TimeSpan CpuTime() => ProcessTools.CpuTimeWithChildren(_portal.Id);

    public async ValueTask DisposeAsync()
    {
        await _portal.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }
}

internal static class ProcessTools
{
    public static int FreePort() => PortalProcess.FreePort();

    public const string AdminEmail = "bench@portal.test";
    public const string AdminPassword = "Bench-passw0rd!";

    /// <summary>
    /// Starts the Release Portal.dll beside the benchmark in a process of its own, with its database in
    /// <paramref name="folder"/>, an administrator, errors-only logging (read and dropped), no limits (the benchmarks
    /// load Portal from one user and one address far past what Portal:Limits lets a client do), the given settings,
    /// and then those of <c>PORTAL_BENCH_ENV</c> (<c>KEY=value;KEY=value</c>).
    /// </summary>
    public static PortalProcess StartPortal(string folder, int port, Dictionary<string, string> settings)
    {
        var all = new Dictionary<string, string>(settings);
        foreach (var setting in (Environment.GetEnvironmentVariable("PORTAL_BENCH_ENV") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var pair = setting.Split('=', 2);
            all[pair[0]] = pair[1];
        }
        return PortalProcess.Start(new PortalProcessOptions
        {
            Folder = folder,
            Port = port,
            Settings = all,
            LogLevel = "Error",
            Admin = (AdminEmail, AdminPassword),
            LimitsOff = true,
            CaptureOutput = false,
        });
    }

    public static async Task WaitForPortAsync(int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
        throw new TimeoutException($"Nothing listens on port {port}.");
    }

    public static string Run(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return output;
    }

    /// <summary>utime + stime of a process and its children, from /proc (clock ticks of 10 ms).</summary>
    public static TimeSpan CpuTimeWithChildren(int pid)
    {
        long ticks = 0;
        foreach (var id in Tree(pid))
        {
            var stat = $"/proc/{id}/stat";
            if (!File.Exists(stat))
            {
                continue;
            }
            var fields = File.ReadAllText(stat);
            var afterName = fields[(fields.LastIndexOf(')') + 2)..].Split(' ');
            ticks += long.Parse(afterName[11], CultureInfo.InvariantCulture) + long.Parse(afterName[12], CultureInfo.InvariantCulture);
        }
        return TimeSpan.FromMilliseconds(ticks * 10);
    }

    private static List<int> Tree(int pid)
    {
        var all = new List<int>();
        var pending = new Queue<int>([pid]);
        while (pending.TryDequeue(out var current))
        {
            all.Add(current);
            var children = $"/proc/{current}/task/{current}/children";
            if (File.Exists(children))
            {
                foreach (var child in File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    pending.Enqueue(int.Parse(child, CultureInfo.InvariantCulture));
                }
            }
        }
        return all;
    }

    /// <summary>VmRSS of a process and its children, from /proc.</summary>
    public static long ResidentBytesWithChildren(int pid)
    {
        long total = 0;
        var pending = new Queue<int>([pid]);
        while (pending.TryDequeue(out var current))
        {
            var status = $"/proc/{current}/status";
            if (!File.Exists(status))
            {
                continue;
            }
            var rss = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            if (rss is not null)
            {
                total += long.Parse(rss.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
            var children = $"/proc/{current}/task/{current}/children";
            if (File.Exists(children))
            {
                foreach (var child in File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    pending.Enqueue(int.Parse(child, CultureInfo.InvariantCulture));
                }
            }
        }
        return total;
    }
}
