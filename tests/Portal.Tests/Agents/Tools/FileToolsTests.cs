using Portal.Agents.Tools;

namespace Portal.Tests.Agents.Tools;

public sealed class FileToolsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private static string Lines(int from, int to) => string.Concat(Enumerable.Range(from, to - from + 1).Select(i => $"line {i}\n"));

    [Fact]
    public async Task ReadFileAsync_WholeFile_ReturnsItsText()
    {
        _temp.Write("a.txt", Lines(1, 3));

        var result = await FileTools.ReadFileAsync(_temp.WorkingDirectory, "a.txt", 0, 100, Ct);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(Lines(1, 3), result.Output);
        Assert.False(result.Truncated);
    }

    [Fact]
    public async Task ReadFileAsync_OffsetAndLimit_ReturnThatWindowAndSayWhereToGoOn()
    {
        _temp.Write("a.txt", Lines(1, 10));

        var result = await FileTools.ReadFileAsync(_temp.WorkingDirectory, "a.txt", 3, 4, Ct);

        Assert.True(result.Truncated);
        Assert.Equal(Lines(4, 7) + "[... more lines; read on with offset 7]\n", result.Output);
    }

    [Fact]
    public async Task ReadFileAsync_LimitReachingTheEnd_IsNotTruncated()
    {
        _temp.Write("a.txt", Lines(1, 10));

        var result = await FileTools.ReadFileAsync(_temp.WorkingDirectory, "a.txt", 8, 2, Ct);

        Assert.False(result.Truncated);
        Assert.Equal(Lines(9, 10), result.Output);
    }

    [Fact]
    public async Task ReadFileAsync_OffsetPastTheEnd_ReturnsNothing()
    {
        _temp.Write("a.txt", Lines(1, 3));

        var result = await FileTools.ReadFileAsync(_temp.WorkingDirectory, "a.txt", 50, 10, Ct);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Output);
    }

    [Fact]
    public async Task ReadFileAsync_HugeFile_StopsAtTheByteLimit()
    {
        _temp.Write("big.txt", string.Concat(Enumerable.Repeat(new string('x', 1000) + "\n", 200)));

        var result = await FileTools.ReadFileAsync(_temp.WorkingDirectory, "big.txt", 0, 10_000, Ct);

        Assert.True(result.Truncated);
        Assert.True(result.Output.Length <= FileTools.MaxReadBytes + 100);
    }

    [Fact]
    public async Task ReadFileAsync_MissingFile_Fails()
    {
        var result = await FileTools.ReadFileAsync(_temp.WorkingDirectory, "missing.txt", 0, 10, Ct);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("does not exist", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadFileAsync_Folder_Fails()
    {
        Directory.CreateDirectory(Path.Combine(_temp.Work, "sub"));

        var result = await FileTools.ReadFileAsync(_temp.WorkingDirectory, "sub", 0, 10, Ct);

        Assert.Equal(1, result.ExitCode);
    }

    [Theory]
    [InlineData("../outside/secret.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("link.txt")]
    [InlineData("dir/secret.txt")]
    public async Task ReadFileAsync_Outside_IsRefusedWithoutReading(string path)
    {
        var secret = _temp.Write(Path.Combine(_temp.Outside, "secret.txt"), "the secret\n");
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "link.txt"), secret);
        Directory.CreateSymbolicLink(Path.Combine(_temp.Work, "dir"), _temp.Outside);

        var result = await FileTools.ReadFileAsync(_temp.WorkingDirectory, path, 0, 10, Ct);

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("the secret", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("root:", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadFileAsync_SymlinkLoop_FailsWithoutThrowing()
    {
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "loop1"), Path.Combine(_temp.Work, "loop2"));
        File.CreateSymbolicLink(Path.Combine(_temp.Work, "loop2"), Path.Combine(_temp.Work, "loop1"));

        var result = await FileTools.ReadFileAsync(_temp.WorkingDirectory, "loop1", 0, 10, Ct);

        Assert.Equal(1, result.ExitCode);
    }

    [Fact]
    public void ListDirectory_DepthOne_ListsOnlyTheTopLevel()
    {
        _temp.Write("b.txt", "12345");
        _temp.Write("a/inner.txt", "x");

        var result = FileTools.ListDirectory(_temp.WorkingDirectory, null, 1);

        Assert.Equal("a/\nb.txt  (5 bytes)", result.Output);
    }

    [Fact]
    public void ListDirectory_DepthTwo_IndentsTheNextLevel()
    {
        _temp.Write("b.txt", "12345");
        _temp.Write("a/inner.txt", "x");
        _temp.Write("a/deeper/hidden.txt", "x");

        var result = FileTools.ListDirectory(_temp.WorkingDirectory, ".", 2);

        Assert.Equal("a/\n  deeper/\n  inner.txt  (1 bytes)\nb.txt  (5 bytes)", result.Output);
    }

    [Fact]
    public void ListDirectory_SubfolderPath_ListsThatFolder()
    {
        _temp.Write("a/inner.txt", "x");

        var result = FileTools.ListDirectory(_temp.WorkingDirectory, "a", 1);

        Assert.Equal("inner.txt  (1 bytes)", result.Output);
    }

    [Fact]
    public void ListDirectory_SymlinkedFolder_IsListedButNotEntered()
    {
        _temp.Write(Path.Combine(_temp.Outside, "secret.txt"), "x");
        Directory.CreateSymbolicLink(Path.Combine(_temp.Work, "out"), _temp.Outside);

        var result = FileTools.ListDirectory(_temp.WorkingDirectory, null, 3);

        Assert.Equal("out/", result.Output);
    }

    [Fact]
    public void ListDirectory_EmptyFolder_SaysSo()
    {
        Assert.Equal("(empty)", FileTools.ListDirectory(_temp.WorkingDirectory, null, 1).Output);
    }

    [Theory]
    [InlineData("..")]
    [InlineData("/etc")]
    [InlineData("out")]
    public void ListDirectory_Outside_IsRefused(string path)
    {
        Directory.CreateSymbolicLink(Path.Combine(_temp.Work, "out"), _temp.Outside);

        var result = FileTools.ListDirectory(_temp.WorkingDirectory, path, 1);

        Assert.StartsWith("Refused", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void ListDirectory_MissingFolder_Fails()
    {
        var result = FileTools.ListDirectory(_temp.WorkingDirectory, "missing", 1);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("does not exist", result.Output, StringComparison.Ordinal);
    }
}
