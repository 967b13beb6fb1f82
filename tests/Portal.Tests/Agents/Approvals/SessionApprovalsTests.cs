using System.Text.Json;
using Portal.Agents.Approvals;
using Portal.Agents.Providers;
using Portal.Agents.Tools;

namespace Portal.Tests.Agents.Approvals;

public sealed class SessionApprovalsTests
{
    private const string Patch = "*** Begin Patch\n*** Update File: a.txt\n@@\n-1\n+2\n*** End Patch";
    private static readonly string[] GitStatus = ["git", "status"];
    private static readonly string[] Compound = ["bash", "-lc", "git status && rm -rf /"];

    private static ToolInvocation Shell(params string[] argv) =>
        AgentTools.Interpret(new ToolCall("c1", AgentTools.ShellName, JsonSerializer.Serialize(new { command = argv })));

    private static ToolInvocation PatchCall(string patch = Patch) =>
        AgentTools.Interpret(new ToolCall("c1", AgentTools.PatchName, JsonSerializer.Serialize(new { patch })));

    private static ToolInvocation Read() => AgentTools.Interpret(new ToolCall("c1", AgentTools.ReadFileName, """{"path":"a.txt"}"""));

    private static ToolInvocation List() => AgentTools.Interpret(new ToolCall("c1", AgentTools.ListDirName, "{}"));

    private static ApprovalCheck Check(SessionApprovals approvals, ToolInvocation invocation, ApprovalPolicy policy) =>
        approvals.Check(invocation, policy, invocation.Patch is { } patch ? PatchTool.Targets(patch) : []);

    [Fact]
    public void Remember_PlainCommand_AllowsExactlyThatArgv()
    {
        var approvals = new SessionApprovals();

        Assert.True(approvals.Remember(GitStatus, null));

        Assert.True(approvals.Allows(["git", "status"]));
        Assert.False(approvals.Allows(["git", "status", "--porcelain"]));
        Assert.False(approvals.Allows(Compound));
        Assert.False(approvals.Allows(["git"]));
        Assert.False(approvals.Allows(["git status"]));
    }

    [Fact]
    public void Check_AlwaysOnGitStatus_DoesNotApproveACompoundScriptStartingWithIt()
    {
        var approvals = new SessionApprovals();
        approvals.Remember(GitStatus, null);

        var check = Check(approvals, Shell(Compound), ApprovalPolicy.Suggest);

        Assert.True(check.Ask);
        Assert.Contains("several commands", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Remember_CompoundCommand_IsNotRemembered()
    {
        var approvals = new SessionApprovals();

        Assert.False(approvals.Remember(Compound, null));

        Assert.False(approvals.Allows(Compound));
        Assert.True(Check(approvals, Shell(Compound), ApprovalPolicy.Suggest).Ask);
    }

    [Fact]
    public void Check_CommandRememberedWithAlways_RunsWithoutAskingButAVariantAsks()
    {
        var approvals = new SessionApprovals();
        approvals.Remember(["npm", "test"], null);

        var same = Check(approvals, Shell("npm", "test"), ApprovalPolicy.Suggest);
        var variant = Check(approvals, Shell("npm", "test", "--", "--watch"), ApprovalPolicy.Suggest);

        Assert.False(same.Ask);
        Assert.Contains("always", same.Reason, StringComparison.Ordinal);
        Assert.True(variant.Ask);
    }

    [Fact]
    public void Remember_SimpleShellScript_IsRememberedForThatScriptOnly()
    {
        var approvals = new SessionApprovals();

        Assert.True(approvals.Remember(["bash", "-lc", "npm test"], null));

        Assert.True(approvals.Allows(["bash", "-lc", "npm test"]));
        Assert.False(approvals.Allows(["bash", "-lc", "npm test && rm -rf /"]));
        Assert.False(approvals.Allows(["npm", "test"]));
    }

    [Fact]
    public void Remember_PatchFiles_AllowsPatchesTouchingOnlyThoseFiles()
    {
        var approvals = new SessionApprovals();

        Assert.True(approvals.Remember(null, ["a.txt", "b.txt"]));

        Assert.True(approvals.AllowsFiles(["a.txt"]));
        Assert.True(approvals.AllowsFiles(["b.txt", "a.txt"]));
        Assert.False(approvals.AllowsFiles(["a.txt", "c.txt"]));
        Assert.False(approvals.AllowsFiles([]));
    }

    [Fact]
    public void Check_PatchOnRememberedFiles_RunsUnderSuggestAndOtherFilesAsk()
    {
        var approvals = new SessionApprovals();
        approvals.Remember(null, ["a.txt"]);

        var same = Check(approvals, PatchCall(), ApprovalPolicy.Suggest);
        var other = Check(approvals, PatchCall("*** Begin Patch\n*** Add File: b.txt\n+x\n*** End Patch"), ApprovalPolicy.Suggest);

        Assert.False(same.Ask);
        Assert.True(other.Ask);
        Assert.Contains("b.txt", other.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Remember_Nothing_ReturnsFalse()
    {
        var approvals = new SessionApprovals();

        Assert.False(approvals.Remember(null, null));
        Assert.False(approvals.Remember([], []));
    }

    [Fact]
    public void Remember_InOneSession_IsNotSeenByAnother()
    {
        var first = new SessionApprovals();
        var second = new SessionApprovals();
        first.Remember(["npm", "test"], ["a.txt"]);

        Assert.False(second.Allows(["npm", "test"]));
        Assert.True(Check(second, Shell("npm", "test"), ApprovalPolicy.Suggest).Ask);
        Assert.True(Check(second, PatchCall(), ApprovalPolicy.Suggest).Ask);
    }

    [Theory]
    [InlineData(ApprovalPolicy.Suggest)]
    [InlineData(ApprovalPolicy.AutoEdit)]
    [InlineData(ApprovalPolicy.FullAuto)]
    public void Check_ReadFileAndListDir_NeverAsk(ApprovalPolicy policy)
    {
        var approvals = new SessionApprovals();

        Assert.False(Check(approvals, Read(), policy).Ask);
        Assert.False(Check(approvals, List(), policy).Ask);
    }

    [Theory]
    [InlineData(ApprovalPolicy.Suggest, false, true, true)]
    [InlineData(ApprovalPolicy.AutoEdit, false, true, false)]
    [InlineData(ApprovalPolicy.FullAuto, false, false, false)]
    public void Check_EachPolicy_AsksAsTheProtocolSays(ApprovalPolicy policy, bool safeShellAsks, bool otherShellAsks, bool patchAsks)
    {
        var approvals = new SessionApprovals();

        Assert.Equal(safeShellAsks, Check(approvals, Shell("ls", "-la"), policy).Ask);
        Assert.Equal(otherShellAsks, Check(approvals, Shell("rm", "-rf", "build"), policy).Ask);
        Assert.Equal(otherShellAsks, Check(approvals, Shell(Compound), policy).Ask);
        Assert.Equal(patchAsks, Check(approvals, PatchCall(), policy).Ask);
    }

    [Theory]
    [InlineData(".git/config")]
    [InlineData("sub/.git/hooks/pre-commit")]
    [InlineData(".gitattributes")]
    [InlineData("lib/.gitmodules")]
    public void Check_PatchToGitsOwnConfigurationUnderAutoEdit_Asks(string path)
    {
        // git status and git diff run without asking, and obey core.fsmonitor, diff.external and filters from these.
        var check = Check(new SessionApprovals(), PatchCall($"*** Begin Patch\n*** Add File: {path}\n+x\n*** End Patch"), ApprovalPolicy.AutoEdit);

        Assert.True(check.Ask);
        Assert.Contains(path, check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_PatchToAFileNamedLikeGitUnderAutoEdit_Runs()
    {
        Assert.False(Check(new SessionApprovals(), PatchCall("*** Begin Patch\n*** Add File: docs/.github/notes.gitignore\n+x\n*** End Patch"), ApprovalPolicy.AutoEdit).Ask);
    }

    [Fact]
    public void Check_SafeScriptUnderSuggest_Runs()
    {
        var check = Check(new SessionApprovals(), Shell("bash", "-lc", "git log --oneline"), ApprovalPolicy.Suggest);

        Assert.False(check.Ask);
        Assert.Equal("known read-only command", check.Reason);
    }

    [Fact]
    public void Check_PatchUnderSuggest_NamesItsFiles()
    {
        var check = Check(new SessionApprovals(), PatchCall(), ApprovalPolicy.Suggest);

        Assert.True(check.Ask);
        Assert.Equal("The patch edits a.txt.", check.Reason);
    }
}
