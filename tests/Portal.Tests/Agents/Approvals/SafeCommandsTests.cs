using Portal.Agents.Approvals;

namespace Portal.Tests.Agents.Approvals;

public sealed class SafeCommandsTests
{
    private static string[] Argv(string words) => words.Split(' ');

    [Theory]
    [InlineData("ls")]
    [InlineData("ls -la")]
    [InlineData("ls -la src")]
    [InlineData("cat README.md")]
    [InlineData("pwd")]
    [InlineData("head -n 20 src/app.cs")]
    [InlineData("tail -n 5 log.txt")]
    [InlineData("wc -l a.txt b.txt")]
    [InlineData("grep -rn TODO src")]
    [InlineData("rg -n TODO")]
    [InlineData("git status")]
    [InlineData("git status --porcelain")]
    [InlineData("git log --oneline")]
    [InlineData("git log -n 5 --stat")]
    [InlineData("git diff HEAD~1")]
    [InlineData("git show HEAD")]
    [InlineData("git branch")]
    [InlineData("git branch -a")]
    [InlineData("git branch --show-current")]
    [InlineData("sed -n 5,10p f")]
    [InlineData("sed -n 5p")]
    [InlineData("find . -name *.cs")]
    [InlineData("find src -type f")]
    [InlineData("date")]
    [InlineData("file README.md")]
    [InlineData("ls --color=auto")]
    public void IsReadOnly_KnownReadOnlyCommand_IsSafe(string command)
    {
        Assert.True(SafeCommands.IsReadOnly(Argv(command)), command);
    }

    [Theory]
    [InlineData("cat notes/secret.txt")]
    [InlineData("cat notes")]
    [InlineData("ls notes")]
    [InlineData("grep -n key --file=notes")]
    public void IsReadOnly_ArgumentThroughALinkLeadingOutside_IsNotSafe(string command)
    {
        using var temp = new TempFolder();
        File.WriteAllText(Path.Combine(temp.Outside, "secret.txt"), "not yours");
        File.CreateSymbolicLink(Path.Combine(temp.Work, "notes"), temp.Outside);

        Assert.False(SafeCommands.IsReadOnly(Argv(command), temp.WorkingDirectory), command);
        Assert.False(SafeCommands.IsReadOnly(["bash", "-lc", command], temp.WorkingDirectory), command);
    }

    [Fact]
    public void IsReadOnly_ArgumentsInsideTheWorkingDirectory_AreSafeWithItToo()
    {
        using var temp = new TempFolder();
        temp.Write("src/app.cs", "x");
        File.CreateSymbolicLink(Path.Combine(temp.Work, "app-link.cs"), Path.Combine(temp.Work, "src", "app.cs"));

        Assert.True(SafeCommands.IsReadOnly(Argv("cat app-link.cs src/app.cs"), temp.WorkingDirectory));
        Assert.True(SafeCommands.IsReadOnly(Argv("grep -rn TODO src"), temp.WorkingDirectory));
    }

    [Theory]
    [InlineData("grep -Rn key .")]
    [InlineData("grep --dereference-recursive key .")]
    [InlineData("find -L . -name x")]
    [InlineData("find . -follow")]
    [InlineData("ls -lL")]
    [InlineData("tree -l")]
    [InlineData("rg --follow key")]
    public void IsReadOnly_RecursionThatFollowsLinks_IsNotSafe(string command)
    {
        Assert.False(SafeCommands.IsReadOnly(Argv(command)), command);
    }

    [Theory]
    [InlineData("rm -rf build")]
    [InlineData("git branch -D x")]
    [InlineData("git branch new-feature")]
    [InlineData("git -c core.pager=x log")]
    [InlineData("git -C /tmp status")]
    [InlineData("git --no-pager log")]
    [InlineData("git commit -m x")]
    [InlineData("git push")]
    [InlineData("git")]
    [InlineData("git diff --output=patch.txt")]
    [InlineData("git diff --ext-diff")]
    [InlineData("git log -p --textconv")]
    [InlineData("sed -i s/a/b/ f")]
    [InlineData("sed -n 5,10p -i f")]
    [InlineData("sed -n 1p;w out f")]
    [InlineData("sed s/a/b/ f")]
    [InlineData("find . -exec rm {} ;")]
    [InlineData("find . -execdir rm {} ;")]
    [InlineData("find . -delete")]
    [InlineData("find . -ok rm {} ;")]
    [InlineData("find . -fprint list.txt")]
    [InlineData("rg --pre ./script pattern")]
    [InlineData("rg --pre=./script pattern")]
    [InlineData("rg -z pattern")]
    [InlineData("rg --hostname-bin=./script --hyperlink-format=default pattern")]
    [InlineData("cat /etc/passwd")]
    [InlineData("cat ../x")]
    [InlineData("cat src/../../x")]
    [InlineData("cat ~/.ssh/id_rsa")]
    [InlineData("grep --file=/etc/passwd x")]
    [InlineData("grep -f/etc/passwd x")]
    [InlineData("grep -f../secret x")]
    [InlineData("head -n1 ..")]
    [InlineData("ls /")]
    [InlineData("find / -name x")]
    [InlineData("./ls")]
    [InlineData("/tmp/ls -la")]
    [InlineData("bin/cat README.md")]
    [InlineData("tree -o out.txt")]
    [InlineData("tree -ao out.txt")]
    [InlineData("date -s 2020-01-01")]
    [InlineData("date --set=2020-01-01")]
    [InlineData("file -C -m magic")]
    [InlineData("python3 -c print(1)")]
    [InlineData("npm test")]
    [InlineData("curl example.com")]
    public void IsReadOnly_CommandThatWritesRunsOrLeaves_IsNotSafe(string command)
    {
        Assert.False(SafeCommands.IsReadOnly(Argv(command)), command);
    }

    [Fact]
    public void IsReadOnly_EmptyArgv_IsNotSafe()
    {
        Assert.False(SafeCommands.IsReadOnly([]));
    }

    [Theory]
    [InlineData("ls -la")]
    [InlineData("git status")]
    [InlineData("cat 'my file.txt'")]
    [InlineData("grep -n \"two words\" notes.txt")]
    [InlineData("sed -n '5,10p' f")]
    public void IsReadOnly_ShellScriptOfOneSafeCommand_IsSafe(string script)
    {
        Assert.True(SafeCommands.IsReadOnly(["bash", "-lc", script]), script);
        Assert.True(SafeCommands.IsReadOnly(["sh", "-c", script]), script);
        Assert.True(SafeCommands.IsReadOnly(["/bin/bash", "-lc", script]), script);
    }

    [Theory]
    [InlineData("ls && rm -rf /")]
    [InlineData("git status && rm -rf /")]
    [InlineData("ls || rm -rf /")]
    [InlineData("ls | sh")]
    [InlineData("cat a.txt | grep x")]
    [InlineData("ls; rm -rf /")]
    [InlineData("ls > files.txt")]
    [InlineData("cat < /etc/passwd")]
    [InlineData("ls 2>&1")]
    [InlineData("echo $(rm -rf /)")]
    [InlineData("echo `rm -rf /`")]
    [InlineData("cat \"$HOME/.ssh/id_rsa\"")]
    [InlineData("cat $HOME/x")]
    [InlineData("ls &")]
    [InlineData("ls\nrm -rf /")]
    [InlineData("(rm -rf /)")]
    [InlineData("ls *")]
    [InlineData("cat ~/.bashrc")]
    [InlineData("ls 'unclosed")]
    [InlineData("rm -rf build")]
    [InlineData("cat ../x")]
    [InlineData("FOO=bar ls")]
    [InlineData("")]
    public void IsReadOnly_ShellScriptThatIsNotOneSafeCommand_IsNotSafe(string script)
    {
        Assert.False(SafeCommands.IsReadOnly(["bash", "-lc", script]), script);
    }

    [Theory]
    [InlineData("./bash")]
    [InlineData("tools/sh")]
    [InlineData("/tmp/bash")]
    public void IsReadOnly_ShellThatIsNotTheSystemShell_IsNotSafe(string shell)
    {
        Assert.False(SafeCommands.IsReadOnly([shell, "-lc", "ls"]));
    }

    [Fact]
    public void IsReadOnly_ShellWithMoreArguments_IsNotSafe()
    {
        Assert.False(SafeCommands.IsReadOnly(["bash", "-lc", "ls", "extra"]));
        Assert.False(SafeCommands.IsReadOnly(["bash", "script.sh"]));
    }

    [Theory]
    [InlineData("git status && rm -rf /", true)]
    [InlineData("ls | wc -l", true)]
    [InlineData("echo $(id)", true)]
    [InlineData("npm test", false)]
    [InlineData("ls -la", false)]
    public void IsCompound_ShellScripts_AreJudgedByTheirOperators(string script, bool compound)
    {
        Assert.Equal(compound, SafeCommands.IsCompound(["bash", "-lc", script]));
    }

    [Fact]
    public void IsCompound_PlainArgvWithOperatorCharacters_IsNotCompound()
    {
        // Without a shell, "&&" is just an argument.
        Assert.False(SafeCommands.IsCompound(["echo", "a", "&&", "b"]));
    }

    [Theory]
    [InlineData("bash", "-lc")]
    [InlineData("sh", "-c")]
    [InlineData("zsh", "-cl")]
    [InlineData("/usr/bin/dash", "-c")]
    public void ShellScript_ShellWithCFlag_ReturnsTheScript(string shell, string flag)
    {
        Assert.Equal("ls -la", SafeCommands.ShellScript([shell, flag, "ls -la"]));
    }

    [Fact]
    public void ShellScript_OtherArgv_IsNull()
    {
        Assert.Null(SafeCommands.ShellScript(["bash", "-x", "ls"]));
        Assert.Null(SafeCommands.ShellScript(["python3", "-c", "print(1)"]));
    }

    [Fact]
    public void SimpleCommand_QuotedWords_AreJoinedWithoutQuotes()
    {
        Assert.Equal(["grep", "-n", "two words", "a'b.txt"], SafeCommands.SimpleCommand("grep  -n 'two words'\ta\"'\"b.txt")!);
    }
}
