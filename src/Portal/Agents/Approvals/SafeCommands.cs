using System.Text.RegularExpressions;
using Portal.Agents.Tools;

namespace Portal.Agents.Approvals;

/// <summary>
/// Commands known to only read: under the <c>suggest</c> policy they run without asking. The list is the protocol's
/// (ls, cat, pwd, grep, rg, head, tail, wc, git status|log|diff|show|branch, sed -n, find without -exec/-delete) with
/// the options that would make them write or run something else refused. A shell script (<c>bash -lc "..."</c>) is
/// safe only when it is one such command with no operator, redirection or substitution.
/// </summary>
public static partial class SafeCommands
{
    private static readonly HashSet<string> Plain = new(StringComparer.Ordinal) { "ls", "cat", "pwd", "head", "tail", "wc", "grep", "egrep", "fgrep", "echo", "true", "tree", "stat", "file", "which", "whoami", "date", "nl" };
    private static readonly HashSet<string> GitReading = new(StringComparer.Ordinal) { "status", "log", "diff", "show", "branch" };
    private static readonly HashSet<string> GitBranchListing = new(StringComparer.Ordinal) { "-a", "--all", "-r", "--remotes", "-l", "--list", "-v", "-vv", "--verbose", "--show-current", "--no-color", "--color" };
    private static readonly HashSet<string> FindActions = new(StringComparer.Ordinal) { "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fls", "-fprint", "-fprint0", "-fprintf" };
    private static readonly HashSet<string> Shells = new(StringComparer.Ordinal) { "bash", "sh", "zsh", "dash" };
    /// <summary>Options that make a listed program write or change something: its short letter (alone or in a group) and long name.</summary>
    private static readonly Dictionary<string, (char Short, string Long)> WritingOptions = new(StringComparer.Ordinal)
    {
        ["tree"] = ('o', "--output"), // tree -o FILE writes the listing to FILE
        ["date"] = ('s', "--set"), // sets the system clock
        ["file"] = ('C', "--compile"), // writes a compiled magic file
    };

    /// <summary>
    /// Whether argv is a known read-only command. With <paramref name="workingDirectory"/>, an argument naming a
    /// symbolic link that leads outside it also makes the command one to ask about: <c>cat notes</c> is not read-only
    /// when <c>notes</c> links to another user's files.
    /// </summary>
    public static bool IsReadOnly(IReadOnlyList<string> argv, WorkingDirectory? workingDirectory = null)
    {
        if (argv.Count == 0)
        {
            return false;
        }
        IReadOnlyList<string> words = argv;
        if (ShellScript(argv) is { } script)
        {
            // ./bash is not bash: only the system's shell is trusted to be a shell.
            var systemShell = !argv[0].Contains('/', StringComparison.Ordinal) || argv[0].StartsWith("/bin/", StringComparison.Ordinal) || argv[0].StartsWith("/usr/bin/", StringComparison.Ordinal);
            if (!systemShell || SimpleCommand(script) is not { } simple)
            {
                return false;
            }
            words = simple;
        }
        return IsReadOnlyProgram(words) && (workingDirectory is null || words.Skip(1).All(a => StaysInside(a, workingDirectory)));
    }

    /// <summary>The argument, or an option's value, does not lead out of the working directory through a link.</summary>
    private static bool StaysInside(string argument, WorkingDirectory workingDirectory)
    {
        var value = argument.StartsWith('-') ? (argument.IndexOf('=', StringComparison.Ordinal) is var eq and > 0 ? argument[(eq + 1)..] : null) : argument;
        return value is null || workingDirectory.Resolve(value) is not null;
    }

    /// <summary>The script of <c>bash -lc "script"</c> (or sh, zsh, dash; -c with or without -l); null for other argv.</summary>
    public static string? ShellScript(IReadOnlyList<string> argv) =>
        argv.Count == 3 && Shells.Contains(Path.GetFileName(argv[0])) && argv[1] is "-c" or "-lc" or "-cl" ? argv[2] : null;

    /// <summary>
    /// True when argv runs more than one command, or runs one through a shell with operators: <c>&amp;&amp;</c>,
    /// <c>||</c>, <c>;</c>, pipes, redirections, substitutions, background jobs, newlines. "Always" is never remembered
    /// for these: approving <c>git status</c> must not approve <c>git status &amp;&amp; rm -rf ~</c>.
    /// </summary>
    public static bool IsCompound(IReadOnlyList<string> argv) => ShellScript(argv) is { } script && SimpleCommand(script) is null;

    /// <summary>The words of a script that is one simple command (quotes honoured); null when it is anything more.</summary>
    internal static List<string>? SimpleCommand(string script)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        var inWord = false;
        for (var i = 0; i < script.Length; i++)
        {
            var c = script[i];
            switch (c)
            {
                case '\'':
                    var close = script.IndexOf('\'', i + 1);
                    if (close < 0)
                    {
                        return null;
                    }
                    word.Append(script, i + 1, close - i - 1);
                    inWord = true;
                    i = close;
                    break;
                case '"':
                    var end = i + 1;
                    while (end < script.Length && script[end] != '"')
                    {
                        if (script[end] is '$' or '`' or '\\')
                        {
                            return null; // expansions and escapes inside double quotes: not judged
                        }
                        end++;
                    }
                    if (end >= script.Length)
                    {
                        return null;
                    }
                    word.Append(script, i + 1, end - i - 1);
                    inWord = true;
                    i = end;
                    break;
                case ' ' or '\t':
                    if (inWord)
                    {
                        words.Add(word.ToString());
                        word.Clear();
                        inWord = false;
                    }
                    break;
                case '&' or '|' or ';' or '<' or '>' or '$' or '`' or '\\' or '\n' or '\r' or '(' or ')' or '{' or '}' or '*' or '?' or '[' or '~' or '#' or '!':
                    return null;
                default:
                    word.Append(c);
                    inWord = true;
                    break;
            }
        }
        if (inWord)
        {
            words.Add(word.ToString());
        }
        return words.Count == 0 ? null : words;
    }

    private static bool IsReadOnlyProgram(IReadOnlyList<string> argv)
    {
        var program = argv[0];
        if (program.Contains('/', StringComparison.Ordinal))
        {
            return false; // ./ls is not ls
        }
        var args = argv.Skip(1).ToList();
        if (args.Any(LeavesWorkingDirectory))
        {
            return false; // reading outside the working directory (Portal's own data, other users' files) is asked
        }
        if (WritingOptions.TryGetValue(program, out var writing) && args.Any(a => a.StartsWith("--", StringComparison.Ordinal)
            ? a.StartsWith(writing.Long, StringComparison.Ordinal)
            : a.StartsWith('-') && a.Contains(writing.Short, StringComparison.Ordinal)))
        {
            return false;
        }
        if (FollowsLinks(program, args))
        {
            return false; // a link inside may lead anywhere
        }
        return program switch
        {
            "git" => IsReadOnlyGit(args),
            "sed" => IsPrintingSed(args),
            "find" => !args.Any(a => FindActions.Contains(a)),
            // --pre and --hostname-bin run a program; -z runs decompressors.
            "rg" => !args.Any(a => a.StartsWith("--pre", StringComparison.Ordinal) || a.StartsWith("--hostname-bin", StringComparison.Ordinal) || a is "-z" or "--search-zip"),
            _ => Plain.Contains(program),
        };
    }

    /// <summary>The argument, an option's value (<c>--file=/etc/x</c>) or a short option's attached value (<c>-f/etc/x</c>) names a path outside.</summary>
    private static bool LeavesWorkingDirectory(string argument)
    {
        return Leaves(argument)
            || (argument.StartsWith('-') && argument.IndexOf('=', StringComparison.Ordinal) is var eq and > 0 && Leaves(argument[(eq + 1)..]))
            || (argument.Length > 2 && argument[0] == '-' && argument[1] != '-' && Leaves(argument[2..]));

        static bool Leaves(string value) => value.StartsWith('/') || value.StartsWith('~') || value.Split('/').Contains("..");
    }

    /// <summary>Options that make a recursive listing or search follow the links it meets: grep -R, find -L, ls -L, tree -l.</summary>
    private static bool FollowsLinks(string program, List<string> args)
    {
        bool Short(char letter) => args.Any(a => a.Length > 1 && a[0] == '-' && a[1] != '-' && a.Contains(letter, StringComparison.Ordinal));
        return program switch
        {
            "grep" or "egrep" or "fgrep" => Short('R') || args.Contains("--dereference-recursive"),
            "rg" => Short('L') || args.Contains("--follow"),
            "find" => args.Any(a => a is "-L" or "-follow" or "-H"),
            "ls" => Short('L') || args.Contains("--dereference"),
            "tree" => args.Contains("-l"),
            _ => false,
        };
    }

    private static bool IsReadOnlyGit(List<string> args)
    {
        // Options before the subcommand (-c, -C, --exec-path...) can run anything: not judged.
        if (args.Count == 0 || !GitReading.Contains(args[0]))
        {
            return false;
        }
        var rest = args.Skip(1).ToList();
        if (rest.Any(a => a.StartsWith("--output", StringComparison.Ordinal) || a.StartsWith("--ext-diff", StringComparison.Ordinal) || a.StartsWith("--textconv", StringComparison.Ordinal)))
        {
            return false;
        }
        return args[0] != "branch" || rest.All(GitBranchListing.Contains);
    }

    /// <summary><c>sed -n '5p'</c> or <c>sed -n '10,20p' file</c>: printing a line range, nothing else.</summary>
    private static bool IsPrintingSed(List<string> args) =>
        args.Count is 2 or 3 && args[0] == "-n" && PrintRange().IsMatch(args[1]) && args.Skip(2).All(a => !a.StartsWith('-'));

    [GeneratedRegex(@"^\d+(,\d+)?p$")]
    private static partial Regex PrintRange();
}
