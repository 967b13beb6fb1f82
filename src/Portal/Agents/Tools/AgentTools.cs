using System.Text.Json;
using Portal.Agents.Providers;

namespace Portal.Agents.Tools;

public enum ToolKind { Shell, Patch, ReadFile, ListDir, Unknown }

/// <summary>A tool call understood: which tool, with which checked arguments, or why it cannot run.</summary>
public sealed record ToolInvocation(ToolCall Call, ToolKind Kind)
{
    public IReadOnlyList<string>? Argv { get; init; }
    public string? Patch { get; init; }
    public string? Path { get; init; }
    public string? Workdir { get; init; }
    public TimeSpan? Timeout { get; init; }
    public int Offset { get; init; }
    public int Limit { get; init; } = 2_000;
    public int Depth { get; init; } = 1;
    /// <summary>Set when the call cannot run (unknown tool, bad arguments); the model is told this.</summary>
    public string? Error { get; init; }
}

/// <summary>The tools an agent may call: their definitions for models, and running them.</summary>
public static class AgentTools
{
    public const string ShellName = "shell";
    public const string PatchName = "apply_patch";
    public const string ReadFileName = "read_file";
    public const string ListDirName = "list_dir";

    public static readonly IReadOnlyList<ToolDefinition> Definitions =
    [
        Define(ShellName, "Runs a command in the working directory and returns its output. The command is an argv array, e.g. [\"git\", \"status\"]; use [\"bash\", \"-lc\", \"...\"] for shell syntax.",
            """{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"},"description":"argv, the program first"},"workdir":{"type":"string","description":"folder relative to the working directory"},"timeout_ms":{"type":"integer","description":"timeout in milliseconds"}},"required":["command"]}"""),
        Define(PatchName, "Edits files with a patch, in Codex format (*** Begin Patch / *** Update File: path / @@ / -old / +new / *** End Patch) or as a unified diff.",
            """{"type":"object","properties":{"patch":{"type":"string","description":"the patch text"}},"required":["patch"]}"""),
        Define(ReadFileName, "Reads a text file in the working directory.",
            """{"type":"object","properties":{"path":{"type":"string"},"offset":{"type":"integer","description":"lines to skip"},"limit":{"type":"integer","description":"most lines to return"}},"required":["path"]}"""),
        Define(ListDirName, "Lists a folder in the working directory.",
            """{"type":"object","properties":{"path":{"type":"string","description":"folder, default the working directory"},"depth":{"type":"integer","description":"levels to descend, 1 to 5"}}}"""),
    ];

    public static ToolInvocation Interpret(ToolCall call)
    {
        var args = call.ParsedArguments();
        if (args.ValueKind != JsonValueKind.Object)
        {
            return new ToolInvocation(call, ToolKind.Unknown) { Error = "The arguments are not a JSON object." };
        }
        switch (call.Name)
        {
            case ShellName or "container.exec" or "exec":
                var timeoutMs = Integer(args, "timeout_ms") ?? Integer(args, "timeout");
                var argv = Argv(args);
                if (argv is null || argv.Count == 0)
                {
                    return new ToolInvocation(call, ToolKind.Shell) { Error = "'command' must be a non-empty array of strings." };
                }
                // Codex models call the patch tool through the shell: ["apply_patch", "*** Begin Patch ..."].
                if (argv[0] is "apply_patch" or "applypatch" && argv.Count >= 2)
                {
                    return new ToolInvocation(call, ToolKind.Patch) { Patch = argv[1] };
                }
                return new ToolInvocation(call, ToolKind.Shell)
                {
                    Argv = argv,
                    Workdir = String(args, "workdir"),
                    Timeout = timeoutMs is > 0 ? TimeSpan.FromMilliseconds(Math.Min(timeoutMs.Value, 600_000)) : null,
                };
            case PatchName:
                var patch = String(args, "patch") ?? String(args, "input");
                return patch is null
                    ? new ToolInvocation(call, ToolKind.Patch) { Error = "'patch' is missing." }
                    : new ToolInvocation(call, ToolKind.Patch) { Patch = patch };
            case ReadFileName:
                var path = String(args, "path");
                return path is null
                    ? new ToolInvocation(call, ToolKind.ReadFile) { Error = "'path' is missing." }
                    : new ToolInvocation(call, ToolKind.ReadFile) { Path = path, Offset = Math.Max(0, Integer(args, "offset") ?? 0), Limit = Math.Clamp(Integer(args, "limit") ?? 2_000, 1, 10_000) };
            case ListDirName:
                return new ToolInvocation(call, ToolKind.ListDir) { Path = String(args, "path"), Depth = Math.Clamp(Integer(args, "depth") ?? 1, 1, 5) };
            default:
                return new ToolInvocation(call, ToolKind.Unknown) { Error = $"There is no tool named '{call.Name}'. Tools: shell, apply_patch, read_file, list_dir." };
        }
    }

    public static async Task<ToolResult> RunAsync(ToolInvocation invocation, WorkingDirectory directory, ShellLimits limits, CancellationToken cancellationToken)
    {
        if (invocation.Error is { } error)
        {
            return ToolResult.Failure(error);
        }
        switch (invocation.Kind)
        {
            case ToolKind.Shell:
                var workdir = directory.Resolve(invocation.Workdir);
                if (workdir is null || !Directory.Exists(workdir))
                {
                    return ToolResult.Failure($"Refused: workdir '{invocation.Workdir}' is not a folder inside the working directory.");
                }
                return await ShellTool.RunAsync(invocation.Argv!, workdir, invocation.Timeout is { } timeout ? limits with { Timeout = timeout } : limits, cancellationToken);
            case ToolKind.Patch:
                return await PatchTool.ApplyAsync(invocation.Patch!, directory, cancellationToken);
            case ToolKind.ReadFile:
                return await FileTools.ReadFileAsync(directory, invocation.Path, invocation.Offset, invocation.Limit, cancellationToken);
            case ToolKind.ListDir:
                return FileTools.ListDirectory(directory, invocation.Path, invocation.Depth);
            default:
                return ToolResult.Failure($"Unknown tool '{invocation.Call.Name}'.");
        }
    }

    private static ToolDefinition Define(string name, string description, string schema)
    {
        using var document = JsonDocument.Parse(schema);
        return new ToolDefinition(name, description, document.RootElement.Clone());
    }

    private static List<string>? Argv(JsonElement args)
    {
        if (!args.TryGetProperty("command", out var command) && !args.TryGetProperty("cmd", out command))
        {
            return null;
        }
        if (command.ValueKind == JsonValueKind.String)
        {
            var text = command.GetString();
            return string.IsNullOrWhiteSpace(text) ? null : ["bash", "-lc", text];
        }
        if (command.ValueKind != JsonValueKind.Array || command.EnumerateArray().Any(a => a.ValueKind != JsonValueKind.String))
        {
            return null;
        }
        return command.EnumerateArray().Select(a => a.GetString()!).ToList();
    }

    private static string? String(JsonElement args, string name) =>
        args.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static int? Integer(JsonElement args, string name) =>
        args.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) ? number : null;
}
