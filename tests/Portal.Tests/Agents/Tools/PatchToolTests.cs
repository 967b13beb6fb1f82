using Portal.Agents.Tools;

namespace Portal.Tests.Agents.Tools;

public sealed class PatchToolTests : IDisposable
{
    private readonly TempFolder _temp = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private Task<ToolResult> ApplyAsync(string patch) => PatchTool.ApplyAsync(patch, _temp.WorkingDirectory, Ct);

    [Fact]
    public async Task ApplyAsync_CodexAddFile_CreatesTheFileAndItsFolders()
    {
        var result = await ApplyAsync("""
            *** Begin Patch
            *** Add File: docs/notes.txt
            +first line
            +second line
            *** End Patch
            """);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("first line\nsecond line\n", _temp.Read("docs/notes.txt"));
        Assert.Contains("A docs/notes.txt", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApplyAsync_CodexUpdateFile_ReplacesTheHunk()
    {
        _temp.Write("app.py", "def main():\n    print(\"hi\")\n    return 0\n");

        var result = await ApplyAsync("""
            *** Begin Patch
            *** Update File: app.py
            @@
             def main():
            -    print("hi")
            +    print("hello")
            +    print("world")
                 return 0
            *** End Patch
            """);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("def main():\n    print(\"hello\")\n    print(\"world\")\n    return 0\n", _temp.Read("app.py"));
        Assert.Contains("M app.py", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApplyAsync_CodexHunkWithContextHeader_ChangesTheOccurrenceAfterThatLine()
    {
        _temp.Write("calc.py", "def first():\n    return 0\n\ndef second():\n    return 0\n");

        var result = await ApplyAsync("""
            *** Begin Patch
            *** Update File: calc.py
            @@ def second():
            -    return 0
            +    return 2
            *** End Patch
            """);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("def first():\n    return 0\n\ndef second():\n    return 2\n", _temp.Read("calc.py"));
    }

    [Fact]
    public async Task ApplyAsync_CodexContextHeaderNotInTheFile_ChangesNothing()
    {
        _temp.Write("calc.py", "def first():\n    return 0\n");

        var result = await ApplyAsync("""
            *** Begin Patch
            *** Update File: calc.py
            @@ def missing():
            -    return 0
            +    return 2
            *** End Patch
            """);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("def first():\n    return 0\n", _temp.Read("calc.py"));
    }

    [Fact]
    public async Task ApplyAsync_CodexAdditionAfterAContextHeader_InsertsAfterThatLine()
    {
        _temp.Write("calc.py", "def first():\n    return 0\n\ndef second():\n    return 0\n");

        var result = await ApplyAsync("*** Begin Patch\n*** Update File: calc.py\n@@ def first():\n+    \"\"\"The first.\"\"\"\n*** End Patch");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("def first():\n    \"\"\"The first.\"\"\"\n    return 0\n\ndef second():\n    return 0\n", _temp.Read("calc.py"));
    }

    [Fact]
    public async Task ApplyAsync_CodexDeleteFile_RemovesIt()
    {
        _temp.Write("old.txt", "bye\n");

        var result = await ApplyAsync("*** Begin Patch\n*** Delete File: old.txt\n*** End Patch");

        Assert.Equal(0, result.ExitCode);
        Assert.False(_temp.Exists("old.txt"));
        Assert.Contains("D old.txt", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApplyAsync_CodexMoveTo_RenamesAndEdits()
    {
        _temp.Write("a.txt", "one\ntwo\n");

        var result = await ApplyAsync("""
            *** Begin Patch
            *** Update File: a.txt
            *** Move to: sub/b.txt
            @@
             one
            -two
            +2
            *** End Patch
            """);

        Assert.Equal(0, result.ExitCode);
        Assert.False(_temp.Exists("a.txt"));
        Assert.Equal("one\n2\n", _temp.Read("sub/b.txt"));
        Assert.Contains("R a.txt -> sub/b.txt", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApplyAsync_CodexSeveralFiles_AppliesAll()
    {
        _temp.Write("keep.txt", "x\ny\n");
        _temp.Write("gone.txt", "z\n");

        var result = await ApplyAsync("""
            *** Begin Patch
            *** Add File: new.txt
            +new
            *** Update File: keep.txt
            @@
            -y
            +Y
            *** Delete File: gone.txt
            *** End Patch
            """);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("new\n", _temp.Read("new.txt"));
        Assert.Equal("x\nY\n", _temp.Read("keep.txt"));
        Assert.False(_temp.Exists("gone.txt"));
    }

    [Fact]
    public async Task ApplyAsync_UnifiedDiffWithSeveralHunks_AppliesEach()
    {
        _temp.Write("m.txt", string.Concat(Enumerable.Range(1, 15).Select(i => i + "\n")));

        var result = await ApplyAsync("""
            --- a/m.txt
            +++ b/m.txt
            @@ -1,5 +1,5 @@
             1
            -2
            +two
             3
             4
             5
            @@ -11,5 +11,6 @@
             11
             12
             13
            +inserted
             14
             15
            """);

        Assert.Equal(0, result.ExitCode);
        var expected = string.Concat(Enumerable.Range(1, 15).Select(i => i switch { 2 => "two\n", 13 => "13\ninserted\n", _ => i + "\n" }));
        Assert.Equal(expected, _temp.Read("m.txt"));
    }

    [Fact]
    public async Task ApplyAsync_UnifiedDiffWithoutContext_InsertsAfterTheNamedLine()
    {
        // diff -U0: "-13,0" means "after line 13", counted in the original file.
        _temp.Write("m.txt", string.Concat(Enumerable.Range(1, 15).Select(i => i + "\n")));

        var result = await ApplyAsync("""
            --- m.txt
            +++ m.txt
            @@ -0,0 +1 @@
            +zero
            @@ -2 +3,2 @@
            -2
            +two
            +zwei
            @@ -13,0 +16 @@
            +inserted
            """);

        Assert.Equal(0, result.ExitCode);
        var expected = "zero\n" + string.Concat(Enumerable.Range(1, 15).Select(i => i switch { 2 => "two\nzwei\n", 13 => "13\ninserted\n", _ => i + "\n" }));
        Assert.Equal(expected, _temp.Read("m.txt"));
    }

    [Fact]
    public async Task ApplyAsync_UnifiedDiffNewAndDeletedFiles_AddsAndDeletes()
    {
        _temp.Write("old.txt", "old\n");

        var result = await ApplyAsync("""
            diff --git a/new.txt b/new.txt
            new file mode 100644
            --- /dev/null
            +++ b/new.txt
            @@ -0,0 +1,2 @@
            +hello
            +world
            diff --git a/old.txt b/old.txt
            deleted file mode 100644
            --- a/old.txt
            +++ /dev/null
            @@ -1 +0,0 @@
            -old
            """);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("hello\nworld\n", _temp.Read("new.txt"));
        Assert.False(_temp.Exists("old.txt"));
    }

    [Fact]
    public async Task ApplyAsync_SecondFileDoesNotMatch_ChangesNothingAtAll()
    {
        _temp.Write("first.txt", "a\nb\n");
        _temp.Write("second.txt", "c\nd\n");

        var result = await ApplyAsync("""
            *** Begin Patch
            *** Update File: first.txt
            @@
            -a
            +A
            *** Add File: added.txt
            +x
            *** Update File: second.txt
            @@
            -not in the file
            +z
            *** End Patch
            """);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("second.txt", result.Output, StringComparison.Ordinal);
        Assert.Equal("a\nb\n", _temp.Read("first.txt"));
        Assert.Equal("c\nd\n", _temp.Read("second.txt"));
        Assert.False(_temp.Exists("added.txt"));
    }

    [Fact]
    public async Task ApplyAsync_SecondFileCannotBeWritten_ChangesNothingAtAll()
    {
        _temp.Write("first.txt", "a\n");
        Directory.CreateDirectory(Path.Combine(_temp.Work, "taken"));

        var result = await ApplyAsync("""
            *** Begin Patch
            *** Update File: first.txt
            @@
            -a
            +A
            *** Add File: new.txt
            +x
            *** Add File: taken
            +a folder is already there
            *** End Patch
            """);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("a\n", _temp.Read("first.txt"));
        Assert.False(_temp.Exists("new.txt"));
        Assert.True(Directory.Exists(Path.Combine(_temp.Work, "taken")));
    }

    [Fact]
    public async Task ApplyAsync_AddFileUnderAnExistingFile_ChangesNothingAtAll()
    {
        _temp.Write("first.txt", "a\n");
        _temp.Write("plain.txt", "p\n");

        var result = await ApplyAsync("""
            *** Begin Patch
            *** Update File: first.txt
            @@
            -a
            +A
            *** Add File: plain.txt/child.txt
            +x
            *** End Patch
            """);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("a\n", _temp.Read("first.txt"));
        Assert.Equal("p\n", _temp.Read("plain.txt"));
    }

    [Fact]
    public async Task ApplyAsync_AddExistingFile_IsRefused()
    {
        _temp.Write("here.txt", "original\n");

        var result = await ApplyAsync("*** Begin Patch\n*** Add File: here.txt\n+replaced\n*** End Patch");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("original\n", _temp.Read("here.txt"));
    }

    [Fact]
    public async Task ApplyAsync_UpdateMissingFile_IsRefused()
    {
        var result = await ApplyAsync("*** Begin Patch\n*** Update File: nope.txt\n@@\n-a\n+b\n*** End Patch");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("does not exist", result.Output, StringComparison.Ordinal);
        Assert.False(_temp.Exists("nope.txt"));
    }

    [Theory]
    [InlineData("../outside/created.txt")]
    [InlineData("a/../../outside/created.txt")]
    public async Task ApplyAsync_AddOutsideTheWorkingDirectory_IsRefusedAndCreatesNothing(string path)
    {
        var result = await ApplyAsync($"*** Begin Patch\n*** Add File: {path}\n+x\n*** End Patch");

        Assert.NotEqual(0, result.ExitCode);
        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_temp.Outside, "created.txt")));
    }

    [Fact]
    public async Task ApplyAsync_AbsolutePathOutside_IsRefusedAndChangesNothing()
    {
        var outside = _temp.Write(Path.Combine(_temp.Outside, "config.txt"), "a\n");

        var result = await ApplyAsync($"*** Begin Patch\n*** Update File: {outside}\n@@\n-a\n+b\n*** End Patch");

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.Equal("a\n", File.ReadAllText(outside));
    }

    [Fact]
    public async Task ApplyAsync_UnifiedDiffOutside_IsRefusedAndChangesNothing()
    {
        var outside = _temp.Write(Path.Combine(_temp.Outside, "config.txt"), "a\n");

        var result = await ApplyAsync("--- a/../outside/config.txt\n+++ b/../outside/config.txt\n@@ -1 +1 @@\n-a\n+b\n");

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.Equal("a\n", File.ReadAllText(outside));
    }

    [Fact]
    public async Task ApplyAsync_AddThroughASymlinkedDirectory_IsRefusedAndCreatesNothing()
    {
        Directory.CreateSymbolicLink(Path.Combine(_temp.Work, "out"), _temp.Outside);

        var result = await ApplyAsync("*** Begin Patch\n*** Add File: out/created.txt\n+x\n*** End Patch");

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_temp.Outside, "created.txt")));
    }

    [Fact]
    public async Task ApplyAsync_AddThroughADanglingSymlinkPointingOutside_IsRefusedAndCreatesNothing()
    {
        var target = Path.Combine(_temp.Outside, "created.txt");
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "trap.txt"), target);

        var result = await ApplyAsync("*** Begin Patch\n*** Add File: trap.txt\n+x\n*** End Patch");

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(target));
    }

    [Fact]
    public async Task ApplyAsync_AddThroughADanglingSymlinkedDirectoryPointingOutside_IsRefusedAndCreatesNothing()
    {
        var target = Path.Combine(_temp.Outside, "not-yet");
        Directory.CreateSymbolicLink(Path.Combine(_temp.Work, "trap"), target);

        var result = await ApplyAsync("*** Begin Patch\n*** Add File: trap/created.txt\n+x\n*** End Patch");

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(target));
    }

    [Fact]
    public async Task ApplyAsync_UpdateThroughASymlinkedFilePointingOutside_IsRefusedAndChangesNothing()
    {
        var outside = _temp.Write(Path.Combine(_temp.Outside, "config.txt"), "a\n");
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "config.txt"), outside);

        var result = await ApplyAsync("*** Begin Patch\n*** Update File: config.txt\n@@\n-a\n+b\n*** End Patch");

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.Equal("a\n", File.ReadAllText(outside));
    }

    [Fact]
    public async Task ApplyAsync_DeleteThroughASymlinkedFilePointingOutside_IsRefusedAndKeepsTheFile()
    {
        var outside = _temp.Write(Path.Combine(_temp.Outside, "config.txt"), "a\n");
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "config.txt"), outside);

        var result = await ApplyAsync("*** Begin Patch\n*** Delete File: config.txt\n*** End Patch");

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.True(File.Exists(outside));
    }

    [Fact]
    public async Task ApplyAsync_MoveOutside_IsRefusedAndKeepsTheSource()
    {
        _temp.Write("a.txt", "one\n");

        var result = await ApplyAsync("*** Begin Patch\n*** Update File: a.txt\n*** Move to: ../outside/a.txt\n*** End Patch");

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.Equal("one\n", _temp.Read("a.txt"));
        Assert.False(File.Exists(Path.Combine(_temp.Outside, "a.txt")));
    }

    [Fact]
    public async Task ApplyAsync_FileWithWindowsLineEndings_KeepsThem()
    {
        _temp.Write("win.txt", "one\r\ntwo\r\nthree\r\n");

        var result = await ApplyAsync("*** Begin Patch\n*** Update File: win.txt\n@@\n one\n-two\n+2\n*** End Patch");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("one\r\n2\r\nthree\r\n", _temp.Read("win.txt"));
    }

    [Fact]
    public async Task ApplyAsync_HunkMatchingOnlyWithDifferentIndentation_StillApplies()
    {
        _temp.Write("x.cs", "class X\n{\n\tint a;\n}\n");

        var result = await ApplyAsync("*** Begin Patch\n*** Update File: x.cs\n@@\n-    int a;\n+\tint b;\n*** End Patch");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("class X\n{\n\tint b;\n}\n", _temp.Read("x.cs"));
    }

    [Theory]
    [InlineData("just some text")]
    [InlineData("*** Begin Patch\n*** Add File: a.txt\n+x")]
    [InlineData("*** Begin Patch\n*** Add File: a.txt\nno plus\n*** End Patch")]
    [InlineData("*** Begin Patch\n*** Frobnicate File: a.txt\n*** End Patch")]
    public async Task ApplyAsync_TextThatDoesNotParse_FailsAndChangesNothing(string patch)
    {
        var result = await ApplyAsync(patch);

        Assert.NotEqual(0, result.ExitCode);
        Assert.StartsWith("The patch does not parse", result.Output, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_temp.Work));
    }

    [Fact]
    public async Task ApplyAsync_EmptyCodexPatch_ChangesNothing()
    {
        var result = await ApplyAsync("*** Begin Patch\n*** End Patch");

        Assert.Equal("The patch changes nothing.", result.Output);
    }

    [Fact]
    public void Targets_CodexPatch_ListsEveryFileIncludingMoveDestinations()
    {
        var targets = PatchTool.Targets("""
            *** Begin Patch
            *** Add File: a.txt
            +x
            *** Update File: b.txt
            *** Move to: c.txt
            @@
            -1
            +2
            *** Delete File: d.txt
            *** End Patch
            """);

        Assert.Equal(["a.txt", "b.txt", "c.txt", "d.txt"], targets);
    }

    [Fact]
    public void Targets_UnifiedDiff_StripsTheABPrefixes()
    {
        Assert.Equal(["src/x.cs"], PatchTool.Targets("--- a/src/x.cs\n+++ b/src/x.cs\n@@ -1 +1 @@\n-a\n+b\n"));
    }

    [Fact]
    public void Targets_TextThatDoesNotParse_IsEmpty()
    {
        Assert.Empty(PatchTool.Targets("hello"));
    }
}
