namespace Portal.Tests.Agents.Tools;

public sealed class WorkingDirectoryTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Resolve_RelativePath_IsInsideTheRoot()
    {
        var resolved = _temp.WorkingDirectory.Resolve("src/app.cs");

        Assert.Equal(Path.Combine(_temp.WorkingDirectory.Root, "src", "app.cs"), resolved);
    }

    [Fact]
    public void Resolve_AbsolutePathInside_IsAccepted()
    {
        var inside = Path.Combine(_temp.Work, "notes.txt");

        Assert.Equal(Path.Combine(_temp.WorkingDirectory.Root, "notes.txt"), _temp.WorkingDirectory.Resolve(inside));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("./")]
    public void Resolve_EmptyOrDot_IsTheRoot(string? path)
    {
        Assert.Equal(_temp.WorkingDirectory.Root, _temp.WorkingDirectory.Resolve(path));
    }

    [Fact]
    public void Resolve_DotDotThatStaysInside_IsAccepted()
    {
        Assert.Equal(Path.Combine(_temp.WorkingDirectory.Root, "b.txt"), _temp.WorkingDirectory.Resolve("a/../b.txt"));
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("../outside/secret.txt")]
    [InlineData("a/../../x")]
    [InlineData("/etc/passwd")]
    [InlineData("..")]
    public void Resolve_PathLeavingTheRoot_IsNull(string path)
    {
        Assert.Null(_temp.WorkingDirectory.Resolve(path));
    }

    [Fact]
    public void Resolve_SiblingWithTheRootAsPrefix_IsNull()
    {
        // "/tmp/x/work2" starts with "/tmp/x/work" but is not inside it.
        Directory.CreateDirectory(_temp.Work + "2");

        Assert.Null(_temp.WorkingDirectory.Resolve(_temp.Work + "2/file.txt"));
    }

    [Fact]
    public void Resolve_NulCharacter_IsNull()
    {
        Assert.Null(_temp.WorkingDirectory.Resolve("a\0b"));
    }

    [Fact]
    public void Resolve_SymlinkedDirectoryPointingOutside_IsNull()
    {
        Directory.CreateSymbolicLink(Path.Combine(_temp.Work, "out"), _temp.Outside);

        Assert.Null(_temp.WorkingDirectory.Resolve("out"));
    }

    [Fact]
    public void Resolve_PathThroughASymlinkedDirectoryPointingOutside_IsNull()
    {
        Directory.CreateSymbolicLink(Path.Combine(_temp.Work, "out"), _temp.Outside);

        Assert.Null(_temp.WorkingDirectory.Resolve("out/new.txt"));
        Assert.Null(_temp.WorkingDirectory.Resolve("out/deeper/new.txt"));
    }

    [Fact]
    public void Resolve_SymlinkedFilePointingOutside_IsNull()
    {
        var secret = _temp.Write(Path.Combine(_temp.Outside, "secret.txt"), "secret");
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "secret.txt"), secret);

        Assert.Null(_temp.WorkingDirectory.Resolve("secret.txt"));
    }

    [Fact]
    public void Resolve_DanglingSymlinkPointingOutside_IsNull()
    {
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "dangling.txt"), Path.Combine(_temp.Outside, "not-yet.txt"));

        Assert.Null(_temp.WorkingDirectory.Resolve("dangling.txt"));
    }

    [Fact]
    public void Resolve_RelativeSymlinkPointingOutside_IsNull()
    {
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "up.txt"), "../outside/x.txt");

        Assert.Null(_temp.WorkingDirectory.Resolve("up.txt"));
    }

    [Fact]
    public void Resolve_ChainOfSymlinksEndingOutside_IsNull()
    {
        File.CreateSymbolicLink(Path.Combine(_temp.Outside, "hop.txt"), "/etc/passwd");
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "first.txt"), Path.Combine(_temp.Outside, "hop.txt"));

        Assert.Null(_temp.WorkingDirectory.Resolve("first.txt"));
    }

    [Fact]
    public void Resolve_SymlinkPointingInside_ResolvesToItsTarget()
    {
        var target = _temp.Write("real/file.txt", "x");
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "alias.txt"), target);

        Assert.Equal(Path.Combine(_temp.WorkingDirectory.Root, "real", "file.txt"), _temp.WorkingDirectory.Resolve("alias.txt"));
    }

    [Fact]
    public void Resolve_DanglingSymlinkPointingInside_ResolvesToItsTarget()
    {
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "later.txt"), Path.Combine(_temp.Work, "real.txt"));

        Assert.Equal(Path.Combine(_temp.WorkingDirectory.Root, "real.txt"), _temp.WorkingDirectory.Resolve("later.txt"));
    }

    [Fact]
    public void Root_ReachedThroughASymlink_IsTheRealPath()
    {
        var alias = Path.Combine(_temp.Outside, "alias-of-work");
        Directory.CreateSymbolicLink(alias, _temp.Work);

        var directory = new Portal.Agents.Tools.WorkingDirectory(alias);

        Assert.Equal(_temp.WorkingDirectory.Root, directory.Root);
        Assert.Equal(Path.Combine(directory.Root, "a.txt"), directory.Resolve(Path.Combine(alias, "a.txt")));
    }

    [Fact]
    public void Resolve_SymlinkLoop_IsNullInsteadOfThrowing()
    {
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "loop1"), Path.Combine(_temp.Work, "loop2"));
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "loop2"), Path.Combine(_temp.Work, "loop1"));

        Assert.Null(_temp.WorkingDirectory.Resolve("loop1"));
        Assert.Null(_temp.WorkingDirectory.Resolve("loop1/file.txt"));
    }

    [Theory]
    [InlineData("src/app.cs", "src/app.cs")]
    [InlineData("", ".")]
    public void Relative_PathInside_UsesForwardSlashes(string path, string expected)
    {
        Assert.Equal(expected, _temp.WorkingDirectory.Relative(_temp.WorkingDirectory.Resolve(path)!));
    }
}
