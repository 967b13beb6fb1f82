using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Portal.Agents.Tools;

/// <summary>Limits of the shell tool.</summary>
public sealed record ShellLimits(TimeSpan Timeout, int MaxOutputBytes = 10 * 1024, int MaxOutputLines = 256)
{
    public static readonly ShellLimits Default = new(TimeSpan.FromSeconds(10));
}

/// <summary>
/// Runs a command given as argv (no shell in between unless argv asks for one) in the working directory, with an
/// environment that carries no key, token or password, a timeout, and output capped at 10 KB / 256 lines. On timeout
/// or cancellation the whole process tree is killed.
/// </summary>
public static class ShellTool
{
    /// <summary>The only variables a command inherits; everything else (keys, tokens, Portal's own settings) stays out.</summary>
    private static readonly string[] InheritedVariables = ["PATH", "HOME", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR"];

    public static async Task<ToolResult> RunAsync(IReadOnlyList<string> argv, string workingDirectory, ShellLimits limits, CancellationToken cancellationToken)
    {
        if (argv.Count == 0 || string.IsNullOrWhiteSpace(argv[0]))
        {
            return ToolResult.Failure("The command is empty.");
        }
        var program = OperatingSystem.IsWindows() ? argv[0] : FindProgram(argv[0], workingDirectory);
        if (program is null)
        {
            return new ToolResult($"Could not run '{argv[0]}': command not found.", ExitCode: 127);
        }
        // Under setsid the command leads its own process group, so a timeout or cancel can kill everything it started,
        // even children that were reparented when their parent exited.
        var start = new ProcessStartInfo(GroupLauncher ?? program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (GroupLauncher is not null)
        {
            start.ArgumentList.Add(program);
        }
        foreach (var argument in argv.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment.Clear();
        foreach (var name in InheritedVariables)
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                start.Environment[name] = value;
            }
        }
        foreach (var entry in Environment.GetEnvironmentVariables().Keys.OfType<string>().Where(k => k.StartsWith("LC_", StringComparison.Ordinal)))
        {
            start.Environment[entry] = Environment.GetEnvironmentVariable(entry);
        }
        start.Environment["TERM"] = "dumb";
        start.Environment["PAGER"] = "cat";
        start.Environment["GIT_PAGER"] = "cat";

        var output = new OutputCollector(limits.MaxOutputBytes, limits.MaxOutputLines);
        var watch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return new ToolResult($"Could not run '{argv[0]}': {ex.Message}", ExitCode: 127, Duration: watch.Elapsed);
        }
        process.StandardInput.Close(); // commands read EOF instead of waiting for input nobody will type
        var stdout = PumpAsync(process.StandardOutput, output);
        var stderr = PumpAsync(process.StandardError, output);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limits.Timeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = !cancellationToken.IsCancellationRequested;
            KillTree(process);
            await process.WaitForExitAsync(CancellationToken.None);
        }
        // A child that outlives its parent may keep the pipes open; its output is not waited for beyond a moment, and
        // such leftovers are stopped: a tool call leaves no process behind holding its output.
        var pumped = Task.WhenAll(stdout, stderr);
        var leftovers = await Task.WhenAny(pumped, Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None)) != pumped;
        if (leftovers)
        {
            await KillGroupAsync(process.Id);
        }
        cancellationToken.ThrowIfCancellationRequested();
        var text = output.ToString();
        if (leftovers && !timedOut)
        {
            text += "\n[processes the command left running in the background, still holding its output, were stopped]";
        }
        if (timedOut)
        {
            text += string.Create(CultureInfo.InvariantCulture, $"\n[timed out after {limits.Timeout.TotalSeconds:0.#} s; the command and its children were killed]");
        }
        return new ToolResult(text, timedOut ? 124 : process.ExitCode, timedOut, output.Truncated, watch.Elapsed);
    }

    /// <summary>
    /// The program as a shell finds it: a name with a '/' is a path from the working directory, a bare name is looked up
    /// in PATH. (Process.Start would look in Portal's own folder and current directory instead.)
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static string? FindProgram(string name, string workingDirectory)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return Path.GetFullPath(name, workingDirectory);
        }
        const UnixFileMode executable = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, name);
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & executable) != 0)
            {
                return candidate;
            }
        }
        return null;
    }

    private static void KillTree(Process process)
    {
        var id = process.Id;
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        _ = KillGroupAsync(id);
    }

    /// <summary>setsid(1) where there is one (Linux): the command then leads a process group of its own.</summary>
    private static readonly string? GroupLauncher = OperatingSystem.IsLinux() && File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : null;

    private static readonly string? Killer = new[] { "/usr/bin/kill", "/bin/kill" }.FirstOrDefault(File.Exists);

    /// <summary>Kills the process group a command started under setsid, whatever is left of it.</summary>
    private static async Task KillGroupAsync(int groupId)
    {
        if (GroupLauncher is null || Killer is null)
        {
            return;
        }
        try
        {
            using var kill = Process.Start(new ProcessStartInfo(Killer, ["-KILL", "--", "-" + groupId.ToString(CultureInfo.InvariantCulture)])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            });
            if (kill is not null)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await kill.WaitForExitAsync(timeout.Token);
            }
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or OperationCanceledException or InvalidOperationException)
        {
            // Nothing left to kill, or no way to: the direct tree was killed already.
        }
    }

    private static async Task PumpAsync(StreamReader reader, OutputCollector output)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            output.Append(buffer.AsSpan(0, read));
        }
    }

    /// <summary>Keeps the first bytes and lines of stdout and stderr as they interleave, counting what it drops.</summary>
    private sealed class OutputCollector(int maxBytes, int maxLines)
    {
        private readonly StringBuilder _kept = new();
        private int _bytes;
        private int _lines;
        private long _dropped;

        public bool Truncated => Interlocked.Read(ref _dropped) > 0;

        public void Append(ReadOnlySpan<char> text)
        {
            lock (_kept)
            {
                foreach (var c in text)
                {
                    if (_bytes >= maxBytes || _lines >= maxLines)
                    {
                        _dropped++;
                        continue;
                    }
                    _kept.Append(c);
                    _bytes += c < 0x80 ? 1 : Encoding.UTF8.GetByteCount([c]);
                    if (c == '\n')
                    {
                        _lines++;
                    }
                }
            }
        }

        public override string ToString()
        {
            lock (_kept)
            {
                return _dropped == 0
                    ? _kept.ToString()
                    : _kept + string.Create(CultureInfo.InvariantCulture, $"\n[output truncated: {_dropped} more characters not shown; limit {maxBytes} bytes / {maxLines} lines]");
            }
        }
    }
}
