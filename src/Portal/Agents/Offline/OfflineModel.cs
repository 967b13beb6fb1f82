using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Portal.Agents.Approvals;
using Portal.Agents.Providers;
using Portal.Agents.Runtime;
using Portal.Agents.Tools;

namespace Portal.Agents.Offline;

public sealed class OfflineAgentOptions
{
    public const string Section = "Portal:OfflineAgent";

    /// <summary>Pause between streamed words, so the stream can be watched.</summary>
    public TimeSpan TokenDelay { get; set; } = TimeSpan.FromMilliseconds(25);
}

/// <summary>
/// The built-in agent used when no model is configured: deterministic, needs no network or key, says what it is in
/// every reply, and proposes real tool calls ("list the files", "run git status", "read README.md", "create file
/// notes.txt with hello") so the whole approval flow can be tried without a key.
/// </summary>
public sealed partial class OfflineModel(IOptions<OfflineAgentOptions> options, TimeProvider time) : IModelProvider
{
    public const string AgentName = "Offline agent";
    public const string Label = "**Offline agent** (built in, no model configured)";

    public string Name => "offline";

    public async IAsyncEnumerable<ModelStreamEvent> StreamAsync(ModelRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (text, calls) = Answer(request);
        var delay = options.Value.TokenDelay;
        foreach (var piece in Words(text))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return new TextDelta(piece);
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, time, cancellationToken);
            }
        }
        foreach (var call in calls)
        {
            yield return new ToolCallRequested(call);
        }
        var input = request.Messages.Sum(m => m switch
        {
            UserMessage u => u.Text.Length,
            AssistantMessage a => a.Text.Length,
            ToolResultMessage r => r.Output.Length,
            _ => 0,
        }) + (request.Instructions?.Length ?? 0);
        yield return new UsageReported(Math.Max(1, input / 4), Math.Max(1, text.Length / 4));
    }

    /// <summary>The whole answer to a request: its text and the tool calls it proposes.</summary>
    public static (string Text, IReadOnlyList<ToolCall> Calls) Answer(ModelRequest request)
    {
        var last = request.Messages.Count > 0 ? request.Messages[^1] : null;
        if (last is UserMessage { Text: var asked } && asked.StartsWith(AgentPrompts.ExplainHeading, StringComparison.Ordinal))
        {
            return (Explain(asked), []);
        }
        if (last is UserMessage { Text: var conversation } && conversation.StartsWith(AgentPrompts.SummaryHeading, StringComparison.Ordinal))
        {
            return (Summarise(conversation), []);
        }
        if (last is ToolResultMessage)
        {
            return (Labelled(ReportResults(request.Messages)), []);
        }
        var text = (last as UserMessage)?.Text.Trim() ?? "";
        var toolsOffered = request.Tools.Count > 0;
        if (Propose(text) is { } proposal)
        {
            return toolsOffered
                ? (Labelled(proposal.Intro), [new ToolCall("call_" + Guid.NewGuid().ToString("N")[..12], proposal.Tool, proposal.Arguments)])
                : (Labelled("I would " + proposal.Intro.TrimEnd('.').Replace("I'll ", "", StringComparison.Ordinal) + ", but tools are not available here."), []);
        }
        return (Labelled(Echo(text, toolsOffered)), []);
    }

    private static string Labelled(string body) => Label + "\n\n" + body;

    private sealed record Proposal(string Intro, string Tool, string Arguments);

    private static Proposal? Propose(string text)
    {
        if (ListFiles().IsMatch(text))
        {
            return Shell("I'll list the files in the working directory.", ["ls", "-la"]);
        }
        if (RunCommand().Match(text) is { Success: true } run)
        {
            var command = run.Groups["command"].Value.Trim().Trim('`');
            var argv = SafeCommands.SimpleCommand(command) ?? ["bash", "-lc", command];
            return Shell($"I'll run `{command}`.", argv);
        }
        if (CreateFile().Match(text) is { Success: true } create)
        {
            var path = create.Groups["path"].Value.Trim('`', '"', '\'');
            var content = create.Groups["content"].Value.Trim().Trim('`', '"');
            var patch = $"*** Begin Patch\n*** Add File: {path}\n" + string.Concat(content.Split('\n').Select(l => "+" + l + "\n")) + "*** End Patch";
            return new Proposal($"I'll create `{path}`.", AgentTools.PatchName, JsonSerializer.Serialize(new { patch }));
        }
        if (DeleteFile().Match(text) is { Success: true } delete)
        {
            var path = delete.Groups["path"].Value.Trim('`', '"', '\'');
            return new Proposal($"I'll delete `{path}`.", AgentTools.PatchName, JsonSerializer.Serialize(new { patch = $"*** Begin Patch\n*** Delete File: {path}\n*** End Patch" }));
        }
        if (ReadFile().Match(text) is { Success: true } read)
        {
            var path = read.Groups["path"].Value.Trim('`', '"', '\'');
            return new Proposal($"I'll read `{path}`.", AgentTools.ReadFileName, JsonSerializer.Serialize(new { path }));
        }
        return null;
    }

    private static Proposal Shell(string intro, IReadOnlyList<string> argv) =>
        new(intro, AgentTools.ShellName, JsonSerializer.Serialize(new { command = argv }));

    private static string Echo(string text, bool toolsOffered)
    {
        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        var reply = new StringBuilder()
            .Append("You wrote ").Append(words).Append(words == 1 ? " word" : " words").Append(": \u201c")
            .Append(text.Length > 500 ? text[..500] + "\u2026" : text).Append("\u201d\n\n")
            .Append("This reply is generated locally, without a language model. ");
        if (toolsOffered)
        {
            reply.Append("I can still use tools, with your approval: try *list the files*, *run git status*, ")
                .Append("*read README.md* or *create file notes.txt with hello*. ");
        }
        return reply.Append("To chat with a real model, set `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or `GOOGLE_API_KEY` and restart Portal.").ToString();
    }

    /// <summary>What the tool calls of the last step produced, in words.</summary>
    private static string ReportResults(IReadOnlyList<ModelMessage> messages)
    {
        var results = new List<ToolResultMessage>();
        for (var i = messages.Count - 1; i >= 0 && messages[i] is ToolResultMessage result; i--)
        {
            results.Insert(0, result);
        }
        var text = new StringBuilder();
        foreach (var result in results)
        {
            if (result.Output.StartsWith(Transcript.AbortedOutput, StringComparison.Ordinal))
            {
                text.Append("Understood: I did not run it.");
                var reason = result.Output[Transcript.AbortedOutput.Length..].Trim(' ', ':', '.', '\n');
                if (reason.Length > 0)
                {
                    text.Append(" You said: \u201c").Append(reason).Append('\u201d');
                }
                text.Append("\n\n");
                continue;
            }
            var (output, exitCode) = ReadToolOutput(result.Output);
            text.Append(result.Name switch
            {
                AgentTools.ShellName => exitCode == 0 ? "The command finished successfully." : $"The command failed with exit code {exitCode}.",
                AgentTools.PatchName => exitCode == 0 ? "The patch was applied." : "The patch was not applied.",
                _ => exitCode == 0 ? "Here is what I found." : "That did not work.",
            });
            var lines = output.TrimEnd().Split('\n');
            if (lines.Length > 0 && output.Trim().Length > 0)
            {
                text.Append("\n\n```text\n").AppendJoin('\n', lines.Take(40));
                if (lines.Length > 40)
                {
                    text.Append("\n\u2026 (").Append(lines.Length - 40).Append(" more lines)");
                }
                text.Append("\n```");
            }
            text.Append("\n\n");
        }
        return text.ToString().TrimEnd();
    }

    private static (string Output, int? ExitCode) ReadToolOutput(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var output = root.TryGetProperty("output", out var o) && o.ValueKind == JsonValueKind.String ? o.GetString()! : json;
            int? exit = root.TryGetProperty("metadata", out var m) && m.TryGetProperty("exit_code", out var e) && e.ValueKind == JsonValueKind.Number ? e.GetInt32() : null;
            return (output, exit);
        }
        catch (JsonException)
        {
            return (json, null);
        }
    }

    private static readonly Dictionary<string, string> Programs = new(StringComparer.Ordinal)
    {
        ["ls"] = "lists the files of a folder; it changes nothing",
        ["cat"] = "prints a file's contents; it changes nothing",
        ["pwd"] = "prints the current folder; it changes nothing",
        ["grep"] = "searches files for text; it changes nothing",
        ["rg"] = "searches files for text; it changes nothing",
        ["git"] = "runs a Git command; depending on the subcommand it may change the repository or its history",
        ["rm"] = "deletes files; what it deletes cannot be recovered",
        ["mv"] = "moves or renames files, and overwrites a file already at the destination",
        ["cp"] = "copies files, and overwrites a file already at the destination",
        ["mkdir"] = "creates folders",
        ["touch"] = "creates an empty file, or updates a file's timestamp",
        ["echo"] = "prints text; with a redirection it writes that text to a file",
        ["curl"] = "makes a network request; it may send data out or download something",
        ["wget"] = "downloads from the network",
        ["python"] = "runs a Python program, which can do anything your account can",
        ["python3"] = "runs a Python program, which can do anything your account can",
        ["node"] = "runs a JavaScript program, which can do anything your account can",
        ["npm"] = "runs npm; installing packages downloads and runs their scripts",
        ["dotnet"] = "runs the .NET tool (build, run, test), which runs code from this folder",
        ["make"] = "runs the build steps of a Makefile, which can be any commands",
        ["chmod"] = "changes file permissions",
        ["sleep"] = "waits, doing nothing",
    };

    private static string Explain(string asked)
    {
        var text = new StringBuilder(Label).Append("\n\n");
        var argvLine = asked.Split('\n').FirstOrDefault(l => l.StartsWith("Command (argv): ", StringComparison.Ordinal));
        if (argvLine is not null)
        {
            var argv = JsonSerializer.Deserialize<string[]>(argvLine["Command (argv): ".Length..]) ?? [];
            var script = argv.Length == 3 && SafeCommands.ShellScript(argv) is { } s ? s : null;
            var shown = script ?? string.Join(' ', argv);
            text.Append("This runs `").Append(shown).Append("` in the working directory. ");
            var program = (script is null ? argv.FirstOrDefault() : SafeCommands.SimpleCommand(script)?.FirstOrDefault()) ?? "";
            if (script is not null && SafeCommands.IsCompound(argv))
            {
                text.Append("It is a shell script with several steps (operators such as `&&`, `;` or pipes), so each part should be read before approving. ");
            }
            else if (Programs.TryGetValue(Path.GetFileName(program), out var meaning))
            {
                text.Append('`').Append(program).Append("` ").Append(meaning).Append(". ");
            }
            else
            {
                text.Append("I do not know `").Append(program).Append("`; approve it only if you know what it does. ");
            }
            text.Append(SafeCommands.IsReadOnly(argv) ? "It only reads." : "It may change files or have other effects.");
            return text.ToString();
        }
        if (asked.Contains("*** Begin Patch", StringComparison.Ordinal) || asked.Contains("\n+++ ", StringComparison.Ordinal))
        {
            var patch = asked[(asked.IndexOf("Patch:\n", StringComparison.Ordinal) + "Patch:\n".Length)..];
            var targets = PatchTool.Targets(patch);
            text.Append("This patch edits ").Append(targets.Count == 0 ? "files" : string.Join(", ", targets.Select(t => $"`{t}`")))
                .Append(" inside the working directory. It either applies whole or not at all.");
            return text.ToString();
        }
        return text.Append("This call reads inside the working directory and changes nothing.").ToString();
    }

    private static string Summarise(string conversation)
    {
        var asked = conversation.Split('\n').Where(l => l.StartsWith("[user] ", StringComparison.Ordinal)).Select(l => l[7..]).ToList();
        var calls = conversation.Split('\n').Count(l => l.StartsWith("[tool call] ", StringComparison.Ordinal));
        var text = new StringBuilder("Earlier in this conversation (summarised by the offline agent): ");
        text.Append(asked.Count == 1 ? "the user wrote " : $"the user wrote {asked.Count} messages: ");
        text.AppendJoin("; ", asked.Select(a => "\u201c" + (a.Length > 80 ? a[..80] + "\u2026" : a) + "\u201d"));
        if (calls > 0)
        {
            text.Append(". The agent made ").Append(calls).Append(calls == 1 ? " tool call" : " tool calls");
        }
        return text.Append('.').ToString();
    }

    /// <summary>The text in pieces of a word and its following space each.</summary>
    internal static IEnumerable<string> Words(string text)
    {
        var start = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            if ((i == text.Length && start < text.Length) || (i < text.Length && text[i] == ' ' && i > start))
            {
                var end = Math.Min(i + 1, text.Length);
                yield return text[start..end];
                start = end;
            }
        }
    }

    [GeneratedRegex(@"^(please\s+)?((list|show)\s+(me\s+)?(all\s+)?(the\s+)?files\b|ls\s*$)", RegexOptions.IgnoreCase)]
    private static partial Regex ListFiles();

    [GeneratedRegex(@"^(please\s+)?(run|execute|\$)\s+(?<command>.+)$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex RunCommand();

    [GeneratedRegex(@"^(please\s+)?(create|write|add)\s+(a\s+|the\s+)?file\s+(?<path>\S+)\s+(with|containing|saying)\s*:?\s*(?<content>.+)$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex CreateFile();

    [GeneratedRegex(@"^(please\s+)?(delete|remove)\s+(the\s+)?file\s+(?<path>\S+)\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex DeleteFile();

    [GeneratedRegex(@"^(please\s+)?(read|open|cat)\s+(the\s+)?(file\s+)?(?<path>[\w./-]+)\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex ReadFile();
}
