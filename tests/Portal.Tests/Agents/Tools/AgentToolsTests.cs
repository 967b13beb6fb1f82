using Portal.Agents.Providers;
using Portal.Agents.Tools;

namespace Portal.Tests.Agents.Tools;

public sealed class AgentToolsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private static ToolInvocation Interpret(string name, string arguments) => AgentTools.Interpret(new ToolCall("call_1", name, arguments));

    [Fact]
    public void Definitions_NameTheFourTools()
    {
        Assert.Equal(["shell", "apply_patch", "read_file", "list_dir"], AgentTools.Definitions.Select(d => d.Name));
    }

    [Fact]
    public void Interpret_ShellWithArgv_KeepsArgvWorkdirAndTimeout()
    {
        var invocation = Interpret("shell", """{"command":["git","status"],"workdir":"src","timeout_ms":2500}""");

        Assert.Equal(ToolKind.Shell, invocation.Kind);
        Assert.Null(invocation.Error);
        Assert.Equal(["git", "status"], invocation.Argv!);
        Assert.Equal("src", invocation.Workdir);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), invocation.Timeout);
    }

    [Fact]
    public void Interpret_ShellWithAString_RunsItThroughBash()
    {
        var invocation = Interpret("shell", """{"command":"ls -la | wc -l"}""");

        Assert.Equal(["bash", "-lc", "ls -la | wc -l"], invocation.Argv!);
    }

    [Fact]
    public void Interpret_HugeTimeout_IsCappedAtTenMinutes()
    {
        Assert.Equal(TimeSpan.FromMinutes(10), Interpret("shell", """{"command":["true"],"timeout_ms":99999999}""").Timeout);
    }

    [Theory]
    [InlineData("""{"command":[]}""")]
    [InlineData("""{"command":["ls", 3]}""")]
    [InlineData("""{"command":"  "}""")]
    [InlineData("""{}""")]
    public void Interpret_ShellWithoutAUsableCommand_IsAnError(string arguments)
    {
        var invocation = Interpret("shell", arguments);

        Assert.Equal(ToolKind.Shell, invocation.Kind);
        Assert.NotNull(invocation.Error);
    }

    [Fact]
    public void Interpret_ApplyPatchThroughTheShell_IsAPatch()
    {
        var invocation = Interpret("shell", """{"command":["apply_patch","*** Begin Patch\n*** End Patch"]}""");

        Assert.Equal(ToolKind.Patch, invocation.Kind);
        Assert.Equal("*** Begin Patch\n*** End Patch", invocation.Patch);
    }

    [Theory]
    [InlineData("""{"patch":"P"}""")]
    [InlineData("""{"input":"P"}""")]
    public void Interpret_ApplyPatch_ReadsThePatch(string arguments)
    {
        Assert.Equal("P", Interpret("apply_patch", arguments).Patch);
    }

    [Fact]
    public void Interpret_ReadFile_ClampsOffsetAndLimit()
    {
        var invocation = Interpret("read_file", """{"path":"a.txt","offset":-5,"limit":1000000}""");

        Assert.Equal(ToolKind.ReadFile, invocation.Kind);
        Assert.Equal(("a.txt", 0, 10_000), (invocation.Path, invocation.Offset, invocation.Limit));
    }

    [Fact]
    public void Interpret_ListDir_ClampsDepth()
    {
        var invocation = Interpret("list_dir", """{"depth":40}""");

        Assert.Equal((ToolKind.ListDir, (string?)null, 5), (invocation.Kind, invocation.Path, invocation.Depth));
    }

    [Theory]
    [InlineData("apply_patch", "{}")]
    [InlineData("read_file", "{}")]
    [InlineData("shell", "[1,2]")]
    [InlineData("shell", "not json")]
    [InlineData("rm_everything", "{}")]
    public void Interpret_BadCall_IsAnErrorTheModelIsTold(string name, string arguments)
    {
        Assert.NotNull(Interpret(name, arguments).Error);
    }

    [Fact]
    public async Task RunAsync_InvocationWithAnError_RunsNothingAndReturnsTheError()
    {
        var result = await AgentTools.RunAsync(Interpret("nope", "{}"), _temp.WorkingDirectory, ShellLimits.Default, Ct);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no tool named 'nope'", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ShellInASubfolder_RunsThere()
    {
        Directory.CreateDirectory(Path.Combine(_temp.Work, "sub"));

        var result = await AgentTools.RunAsync(Interpret("shell", """{"command":["pwd"],"workdir":"sub"}"""), _temp.WorkingDirectory, ShellLimits.Default, Ct);

        Assert.Equal(Path.Combine(_temp.WorkingDirectory.Root, "sub") + "\n", result.Output);
    }

    [Theory]
    [InlineData("..")]
    [InlineData("/tmp")]
    [InlineData("missing")]
    public async Task RunAsync_ShellWithAWorkdirOutsideOrMissing_IsRefused(string workdir)
    {
        var call = $$"""{"command":["touch","made-it"],"workdir":"{{workdir}}"}""";

        var result = await AgentTools.RunAsync(Interpret("shell", call), _temp.WorkingDirectory, ShellLimits.Default, Ct);

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_temp.Outside, "..", "made-it")));
    }

    [Fact]
    public async Task RunAsync_ShellTimeoutFromTheCall_OverridesTheDefault()
    {
        var result = await AgentTools.RunAsync(Interpret("shell", """{"command":["sleep","20"],"timeout_ms":300}"""), _temp.WorkingDirectory, ShellLimits.Default, Ct);

        Assert.True(result.TimedOut);
    }

    [Fact]
    public async Task RunAsync_PatchReadAndList_UseTheWorkingDirectory()
    {
        var patch = await AgentTools.RunAsync(Interpret("apply_patch", """{"patch":"*** Begin Patch\n*** Add File: n.txt\n+hi\n*** End Patch"}"""), _temp.WorkingDirectory, ShellLimits.Default, Ct);
        var read = await AgentTools.RunAsync(Interpret("read_file", """{"path":"n.txt"}"""), _temp.WorkingDirectory, ShellLimits.Default, Ct);
        var list = await AgentTools.RunAsync(Interpret("list_dir", "{}"), _temp.WorkingDirectory, ShellLimits.Default, Ct);

        Assert.Equal(0, patch.ExitCode);
        Assert.Equal("hi\n", read.Output);
        Assert.Equal("n.txt  (3 bytes)", list.Output);
    }
}
