using System.Text.Json;
using Microsoft.Extensions.Options;
using Portal.Agents.Offline;
using Portal.Agents.Providers;
using Portal.Agents.Runtime;
using Portal.Agents.Tools;

namespace Portal.Tests.Agents.Offline;

public sealed class OfflineModelTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ModelRequest Request(params ModelMessage[] messages) => new("offline", null, messages, AgentTools.Definitions, null, null);

    private static ModelRequest Asked(string text) => Request(new UserMessage(text));

    private static ToolCall OnlyCall(string text)
    {
        var (_, calls) = OfflineModel.Answer(Asked(text));
        return Assert.Single(calls);
    }

    private static string[] Argv(ToolCall call) =>
        JsonSerializer.Deserialize<string[]>(call.ParsedArguments().GetProperty("command"))!;

    private static string Argument(ToolCall call, string name) => call.ParsedArguments().GetProperty(name).GetString()!;

    [Fact]
    public void Answer_SameRequest_GivesTheSameAnswer()
    {
        foreach (var text in new[] { "hello there", "list the files", "create file a.txt with hi", "run git status" })
        {
            var first = OfflineModel.Answer(Asked(text));
            var second = OfflineModel.Answer(Asked(text));

            Assert.Equal(first.Text, second.Text);
            Assert.Equal(first.Calls.Select(c => (c.Name, c.Arguments)), second.Calls.Select(c => (c.Name, c.Arguments)));
        }
    }

    [Fact]
    public void Answer_TwoProposals_HaveDistinctCallIds()
    {
        Assert.NotEqual(OnlyCall("list the files").CallId, OnlyCall("list the files").CallId);
    }

    [Theory]
    [InlineData("hello")]
    [InlineData("")]
    [InlineData("list the files")]
    [InlineData("run rm -rf build")]
    [InlineData("read file README.md")]
    [InlineData("create file a.txt with hi")]
    [InlineData("delete file a.txt")]
    public void Answer_AnyRequest_StartsWithTheLabel(string text)
    {
        Assert.StartsWith(OfflineModel.Label, OfflineModel.Answer(Asked(text)).Text, StringComparison.Ordinal);
        Assert.StartsWith(OfflineModel.Label, OfflineModel.Answer(Asked(text) with { Tools = [] }).Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("list the files")]
    [InlineData("List all the files")]
    [InlineData("please show me the files")]
    [InlineData("ls")]
    public void Answer_ListTheFiles_ProposesLsLa(string text)
    {
        var call = OnlyCall(text);

        Assert.Equal(AgentTools.ShellName, call.Name);
        Assert.Equal(["ls", "-la"], Argv(call));
    }

    [Theory]
    [InlineData("run git status", new[] { "git", "status" })]
    [InlineData("please execute `npm test`", new[] { "npm", "test" })]
    [InlineData("$ cat 'my notes.txt'", new[] { "cat", "my notes.txt" })]
    [InlineData("run ls -la | wc -l", new[] { "bash", "-lc", "ls -la | wc -l" })]
    public void Answer_RunX_ProposesThatCommand(string text, string[] argv)
    {
        var call = OnlyCall(text);

        Assert.Equal(AgentTools.ShellName, call.Name);
        Assert.Equal(argv, Argv(call));
    }

    [Theory]
    [InlineData("read file README.md", "README.md")]
    [InlineData("read README.md", "README.md")]
    [InlineData("open the file src/app.cs", "src/app.cs")]
    [InlineData("cat notes.txt", "notes.txt")]
    public void Answer_ReadFileX_ProposesReadFile(string text, string path)
    {
        var call = OnlyCall(text);

        Assert.Equal(AgentTools.ReadFileName, call.Name);
        Assert.Equal(path, Argument(call, "path"));
    }

    [Fact]
    public void Answer_CreateFileXWithY_ProposesAnAddFilePatch()
    {
        var call = OnlyCall("create file notes.txt with hello world");

        Assert.Equal(AgentTools.PatchName, call.Name);
        Assert.Equal("*** Begin Patch\n*** Add File: notes.txt\n+hello world\n*** End Patch", Argument(call, "patch"));
    }

    [Fact]
    public async Task Answer_CreateFileWithSeveralLines_ProposesAPatchThatApplies()
    {
        using var temp = new TempFolder();
        var call = OnlyCall("please write a file docs/todo.md containing: first\nsecond");

        var result = await AgentTools.RunAsync(AgentTools.Interpret(call), temp.WorkingDirectory, ShellLimits.Default, Ct);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("first\nsecond\n", temp.Read("docs/todo.md"));
    }

    [Fact]
    public void Answer_DeleteFileX_ProposesADeleteFilePatch()
    {
        var call = OnlyCall("delete file old.txt");

        Assert.Equal(AgentTools.PatchName, call.Name);
        Assert.Equal("*** Begin Patch\n*** Delete File: old.txt\n*** End Patch", Argument(call, "patch"));
    }

    [Theory]
    [InlineData("list the files")]
    [InlineData("run git status")]
    [InlineData("create file a.txt with hi")]
    public void Answer_RequestWithoutTools_ProposesNoCallAndSaysWhy(string text)
    {
        var (answer, calls) = OfflineModel.Answer(Asked(text) with { Tools = [] });

        Assert.Empty(calls);
        Assert.Contains("tools are not available", answer, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_OtherText_EchoesItWithoutACall()
    {
        var (text, calls) = OfflineModel.Answer(Asked("what is the weather"));

        Assert.Empty(calls);
        Assert.Contains("You wrote 4 words: \u201cwhat is the weather\u201d", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_ShellResult_ReportsTheExitCodeAndTheOutputInACodeBlock()
    {
        var call = new ToolCall("c1", AgentTools.ShellName, """{"command":["ls"]}""");
        var output = new ToolResult("a.txt\nb.txt\n", ExitCode: 0).ForModel();

        var (text, calls) = OfflineModel.Answer(Request(new UserMessage("list the files"), new AssistantMessage("", [call]), new ToolResultMessage("c1", "shell", output)));

        Assert.Empty(calls);
        Assert.StartsWith(OfflineModel.Label, text, StringComparison.Ordinal);
        Assert.Contains("The command finished successfully.", text, StringComparison.Ordinal);
        Assert.Contains("```text\na.txt\nb.txt\n```", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_FailedShellResult_ReportsTheExitCode()
    {
        var output = new ToolResult("boom", ExitCode: 2).ForModel();

        var (text, _) = OfflineModel.Answer(Request(new UserMessage("run x"), new AssistantMessage("", [new ToolCall("c1", "shell", "{}")]), new ToolResultMessage("c1", "shell", output)));

        Assert.Contains("The command failed with exit code 2.", text, StringComparison.Ordinal);
        Assert.Contains("```text\nboom\n```", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_LongResult_ShowsFortyLinesAndCountsTheRest()
    {
        var output = new ToolResult(string.Concat(Enumerable.Range(1, 100).Select(i => i + "\n")), ExitCode: 0).ForModel();

        var (text, _) = OfflineModel.Answer(Request(new UserMessage("run seq"), new ToolResultMessage("c1", "shell", output)));

        Assert.Contains("\n40\n\u2026 (60 more lines)\n```", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\n41\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_PatchAndReadResults_AreReportedEach()
    {
        var patch = new ToolResult("Done:\nA a.txt\n", ExitCode: 0).ForModel();
        var read = new ToolResult("hello\n", ExitCode: 0).ForModel();

        var (text, _) = OfflineModel.Answer(Request(new UserMessage("x"), new ToolResultMessage("c1", AgentTools.PatchName, patch), new ToolResultMessage("c2", AgentTools.ReadFileName, read)));

        Assert.Contains("The patch was applied.", text, StringComparison.Ordinal);
        Assert.Contains("Here is what I found.\n\n```text\nhello\n```", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_AbortedResult_IsAcknowledgedWithTheUsersWords()
    {
        var (text, calls) = OfflineModel.Answer(Request(new UserMessage("delete build"), new ToolResultMessage("c1", "shell", "aborted: please keep the build folder")));

        Assert.Empty(calls);
        Assert.Contains("Understood: I did not run it. You said: \u201cplease keep the build folder\u201d", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_BareAbortedResult_IsAcknowledged()
    {
        var (text, _) = OfflineModel.Answer(Request(new UserMessage("x"), new ToolResultMessage("c1", "shell", Transcript.AbortedOutput)));

        Assert.EndsWith("Understood: I did not run it.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_ExplainAWritingCommand_SaysWhatItDoes()
    {
        var invocation = AgentTools.Interpret(new ToolCall("c1", "shell", """{"command":["rm","-rf","build"]}"""));

        var (text, calls) = OfflineModel.Answer(AgentPrompts.Explain(Asked("x"), invocation));

        Assert.Empty(calls);
        Assert.StartsWith(OfflineModel.Label, text, StringComparison.Ordinal);
        Assert.Contains("This runs `rm -rf build` in the working directory.", text, StringComparison.Ordinal);
        Assert.Contains("deletes files", text, StringComparison.Ordinal);
        Assert.EndsWith("It may change files or have other effects.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_ExplainAReadOnlyScript_SaysItOnlyReads()
    {
        var invocation = AgentTools.Interpret(new ToolCall("c1", "shell", """{"command":["bash","-lc","git log --oneline"]}"""));

        var (text, _) = OfflineModel.Answer(AgentPrompts.Explain(Asked("x"), invocation));

        Assert.Contains("This runs `git log --oneline`", text, StringComparison.Ordinal);
        Assert.EndsWith("It only reads.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_ExplainACompoundScript_WarnsAboutItsSteps()
    {
        var invocation = AgentTools.Interpret(new ToolCall("c1", "shell", """{"command":"git status && rm -rf /"}"""));

        var (text, _) = OfflineModel.Answer(AgentPrompts.Explain(Asked("x"), invocation));

        Assert.Contains("several steps", text, StringComparison.Ordinal);
        Assert.EndsWith("It may change files or have other effects.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_ExplainAnUnknownProgram_SaysSo()
    {
        var invocation = AgentTools.Interpret(new ToolCall("c1", "shell", """{"command":["frobnicate","--all"]}"""));

        var (text, _) = OfflineModel.Answer(AgentPrompts.Explain(Asked("x"), invocation));

        Assert.Contains("I do not know `frobnicate`", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_ExplainAPatch_NamesItsFiles()
    {
        var invocation = AgentTools.Interpret(new ToolCall("c1", AgentTools.PatchName,
            JsonSerializer.Serialize(new { patch = "*** Begin Patch\n*** Add File: a.txt\n+x\n*** Delete File: b.txt\n*** End Patch" })));

        var (text, calls) = OfflineModel.Answer(AgentPrompts.Explain(Asked("x"), invocation));

        Assert.Empty(calls);
        Assert.StartsWith(OfflineModel.Label, text, StringComparison.Ordinal);
        Assert.Contains("This patch edits `a.txt`, `b.txt` inside the working directory.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_ExplainAUnifiedDiff_NamesItsFile()
    {
        var invocation = AgentTools.Interpret(new ToolCall("c1", AgentTools.PatchName,
            JsonSerializer.Serialize(new { patch = "--- a/src/x.cs\n+++ b/src/x.cs\n@@ -1 +1 @@\n-a\n+b\n" })));

        var (text, _) = OfflineModel.Answer(AgentPrompts.Explain(Asked("x"), invocation));

        Assert.Contains("This patch edits `src/x.cs`", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_ExplainARead_SaysItChangesNothing()
    {
        var invocation = AgentTools.Interpret(new ToolCall("c1", AgentTools.ReadFileName, """{"path":"a.txt"}"""));

        var (text, _) = OfflineModel.Answer(AgentPrompts.Explain(Asked("x"), invocation));

        Assert.EndsWith("This call reads inside the working directory and changes nothing.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_Summarise_ListsWhatTheUserWroteAndCountsTheCalls()
    {
        var request = AgentPrompts.Summarise(Asked("x"), null,
        [
            new UserMessage("list the files"),
            new AssistantMessage("", [new ToolCall("c1", "shell", """{"command":["ls"]}""")]),
            new ToolResultMessage("c1", "shell", "a.txt"),
            new UserMessage("read a.txt"),
        ]);

        var (text, calls) = OfflineModel.Answer(request);

        Assert.Empty(calls);
        Assert.Equal("Earlier in this conversation (summarised by the offline agent): the user wrote 2 messages: \u201clist the files\u201d; \u201cread a.txt\u201d. The agent made 1 tool call.", text);
    }

    [Fact]
    public void Answer_SummariseOneMessage_QuotesIt()
    {
        var (text, _) = OfflineModel.Answer(AgentPrompts.Summarise(Asked("x"), null, [new UserMessage("hello")]));

        Assert.Equal("Earlier in this conversation (summarised by the offline agent): the user wrote \u201chello\u201d.", text);
    }

    [Fact]
    public async Task StreamAsync_Pieces_JoinToTheWholeAnswerThenCallsThenUsage()
    {
        var model = new OfflineModel(Options.Create(new OfflineAgentOptions { TokenDelay = TimeSpan.Zero }), TimeProvider.System);
        var request = Asked("list the files");

        var events = new List<ModelStreamEvent>();
        await foreach (var e in model.StreamAsync(request, Ct))
        {
            events.Add(e);
        }

        var text = string.Concat(events.OfType<TextDelta>().Select(d => d.Text));
        Assert.Equal(OfflineModel.Answer(request).Text, text);
        Assert.True(events.OfType<TextDelta>().Count() > 3);
        var call = Assert.Single(events.OfType<ToolCallRequested>()).Call;
        Assert.Equal(["ls", "-la"], Argv(call));
        var usage = Assert.IsType<UsageReported>(events[^1]);
        Assert.True(usage.InputTokens >= 1);
        Assert.Equal(Math.Max(1, text.Length / 4), usage.OutputTokens);
        Assert.IsType<TextDelta>(events[0]);
        Assert.IsType<ToolCallRequested>(events[^2]);
    }

    [Fact]
    public async Task StreamAsync_Cancelled_Stops()
    {
        var model = new OfflineModel(Options.Create(new OfflineAgentOptions { TokenDelay = TimeSpan.FromSeconds(30) }), TimeProvider.System);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in model.StreamAsync(Asked("hello there"), cancel.Token))
            {
            }
        });
    }

    [Theory]
    [InlineData("a b  c", new[] { "a ", "b ", " c" })]
    [InlineData("one", new[] { "one" })]
    [InlineData("", new string[0])]
    public void Words_PiecesJoinBackToTheText(string text, string[] pieces)
    {
        Assert.Equal(pieces, OfflineModel.Words(text));
        Assert.Equal(text, string.Concat(OfflineModel.Words(text)));
    }
}
