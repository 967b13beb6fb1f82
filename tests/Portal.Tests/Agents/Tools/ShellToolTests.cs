using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using Portal.Agents.Tools;

namespace Portal.Tests.Agents.Tools;

public sealed class ShellToolTests : IDisposable
{
    private static readonly ShellLimits Limits = ShellLimits.Default;
    private readonly TempFolder _temp = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private Task<ToolResult> RunAsync(params string[] argv) => ShellTool.RunAsync(argv, _temp.WorkingDirectory.Root, Limits, Ct);

    [Fact]
    public async Task RunAsync_ArgumentWithShellSyntax_IsPassedLiterallyWithoutAShell()
    {
        var result = await RunAsync("printf", "%s", "a; touch pwned && echo $HOME");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("a; touch pwned && echo $HOME", result.Output);
        Assert.False(_temp.Exists("pwned"));
    }

    [Fact]
    public async Task RunAsync_FailingCommand_ReturnsItsExitCodeAndBothStreams()
    {
        var result = await RunAsync("bash", "-c", "echo out; echo err >&2; exit 3");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("out\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("err\n", result.Output, StringComparison.Ordinal);
        Assert.False(result.TimedOut);
        Assert.False(result.Truncated);
    }

    [Fact]
    public async Task RunAsync_Command_RunsInTheWorkingDirectory()
    {
        var result = await RunAsync("pwd");

        Assert.Equal(_temp.WorkingDirectory.Root + "\n", result.Output);
    }

    [Fact]
    public async Task RunAsync_CommandReadingStdin_GetsEndOfInputAtOnce()
    {
        var watch = Stopwatch.StartNew();

        var result = await RunAsync("cat");

        Assert.Equal(0, result.ExitCode);
        Assert.False(result.TimedOut);
        Assert.Equal("", result.Output);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"cat took {watch.Elapsed}");
    }

    [Fact]
    public async Task RunAsync_SecretsInPortalsEnvironment_AreNotPassedOn()
    {
        var value = "s3cr3t-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable("OPENAI_API_KEY", value);
        Environment.SetEnvironmentVariable("PORTAL_SECRET_TOKEN", value);
        try
        {
            var result = await RunAsync("env");

            Assert.Equal(0, result.ExitCode);
            Assert.DoesNotContain("OPENAI_API_KEY", result.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("PORTAL_SECRET_TOKEN", result.Output, StringComparison.Ordinal);
            Assert.DoesNotContain(value, result.Output, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("OPENAI_API_KEY", null);
            Environment.SetEnvironmentVariable("PORTAL_SECRET_TOKEN", null);
        }
    }

    [Fact]
    public async Task RunAsync_Environment_KeepsPathAndHome()
    {
        var result = await RunAsync("env");

        var lines = result.Output.Split('\n');
        Assert.Contains("PATH=" + Environment.GetEnvironmentVariable("PATH"), lines);
        if (Environment.GetEnvironmentVariable("HOME") is { } home)
        {
            Assert.Contains("HOME=" + home, lines);
        }
        Assert.Contains("GIT_PAGER=cat", lines);
    }

    [Fact]
    public async Task RunAsync_OutputOverTheByteLimit_IsCutAndSaysSo()
    {
        var result = await RunAsync("bash", "-c", "head -c 20000 /dev/zero | tr '\\0' a");

        Assert.True(result.Truncated);
        Assert.StartsWith(new string('a', 10 * 1024) + "\n[output truncated", result.Output, StringComparison.Ordinal);
        Assert.Contains("10240 bytes", result.Output, StringComparison.Ordinal);
        Assert.True(result.Output.Length < 10 * 1024 + 200);
    }

    [Fact]
    public async Task RunAsync_OutputOverTheLineLimit_IsCutAndSaysSo()
    {
        var result = await RunAsync("seq", "1", "1000");

        Assert.True(result.Truncated);
        var kept = result.Output.Split('\n');
        Assert.Equal("256", kept[255]);
        Assert.DoesNotContain("\n257\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("[output truncated", result.Output, StringComparison.Ordinal);
        Assert.Contains("256 lines", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_OutputUnderTheLimits_IsWhole()
    {
        var result = await RunAsync("seq", "1", "256");

        Assert.False(result.Truncated);
        Assert.Equal(string.Concat(Enumerable.Range(1, 256).Select(i => i + "\n")), result.Output);
    }

    [Fact]
    public async Task RunAsync_Timeout_KillsTheCommandAndItsChildren()
    {
        var watch = Stopwatch.StartNew();

        var result = await ShellTool.RunAsync(["bash", "-c", "sleep 30 & echo $! > child.pid; wait"], _temp.WorkingDirectory.Root,
            Limits with { Timeout = TimeSpan.FromSeconds(1) }, Ct);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"took {watch.Elapsed}");
        Assert.True(result.TimedOut);
        Assert.Equal(124, result.ExitCode);
        Assert.Contains("timed out after 1 s", result.Output, StringComparison.Ordinal);
        await AssertDeadAsync(ReadPid("child.pid"));
    }

    [Fact]
    public async Task RunAsync_Cancelled_KillsTheCommandAndItsChildren()
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = ShellTool.RunAsync(["bash", "-c", "sleep 30 & echo $! > child.pid; wait"], _temp.WorkingDirectory.Root,
            Limits with { Timeout = TimeSpan.FromSeconds(60) }, cancel.Token);
        await WaitUntilAsync(() => _temp.Exists("child.pid") && _temp.Read("child.pid").EndsWith('\n'));
        var watch = Stopwatch.StartNew();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"took {watch.Elapsed}");
        await AssertDeadAsync(ReadPid("child.pid"));
    }

    [Fact]
    public async Task RunAsync_BackgroundChildHoldingTheOutput_IsStoppedWhenTheCommandExits()
    {
        var watch = Stopwatch.StartNew();

        var result = await ShellTool.RunAsync(["bash", "-c", "sleep 30 & echo $! > child.pid; echo started"], _temp.WorkingDirectory.Root,
            Limits with { Timeout = TimeSpan.FromSeconds(20) }, Ct);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"took {watch.Elapsed}");
        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("started\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("left running in the background", result.Output, StringComparison.Ordinal);
        await AssertDeadAsync(ReadPid("child.pid"));
    }

    [Fact]
    public async Task RunAsync_Timeout_KillsGrandchildrenWhoseParentAlreadyExited()
    {
        // The middle shell exits at once, so the sleeper is reparented and no longer in the command's process tree.
        var result = await ShellTool.RunAsync(["bash", "-c", "bash -c 'sleep 30 > /dev/null 2>&1 & echo $! > child.pid'; sleep 30"],
            _temp.WorkingDirectory.Root, Limits with { Timeout = TimeSpan.FromSeconds(1) }, Ct);

        Assert.True(result.TimedOut);
        await AssertDeadAsync(ReadPid("child.pid"));
    }

    [Fact]
    public async Task RunAsync_MissingProgram_ReturnsExitCode127WithAMessage()
    {
        var result = await RunAsync("no-such-program-" + Guid.NewGuid().ToString("N")[..8]);

        Assert.Equal(127, result.ExitCode);
        Assert.Contains("no-such-program-", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public async Task RunAsync_ProgramGivenRelativeToTheWorkingDirectory_RunsThatProgram()
    {
        var script = _temp.Write("tools/hello.sh", "#!/bin/sh\necho hello from the working directory\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var result = await RunAsync("./tools/hello.sh");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("hello from the working directory\n", result.Output);
    }

    [Fact]
    public async Task RunAsync_EmptyCommand_Fails()
    {
        var result = await ShellTool.RunAsync([], _temp.WorkingDirectory.Root, Limits, Ct);

        Assert.NotEqual(0, result.ExitCode);
    }

    private int ReadPid(string file) => int.Parse(_temp.Read(file).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Alive means present in /proc and not a zombie (nobody may reap an orphan in a container).</summary>
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static async Task AssertDeadAsync(int pid)
    {
        await WaitUntilAsync(() => !IsAlive(pid), TimeSpan.FromSeconds(3), throwOnTimeout: false);
        Assert.False(IsAlive(pid), $"process {pid} is still running");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan? limit = null, bool throwOnTimeout = true)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > (limit ?? TimeSpan.FromSeconds(10)))
            {
                Assert.False(throwOnTimeout, "condition not met in time");
                return;
            }
            await Task.Delay(50, Ct);
        }
    }
}
