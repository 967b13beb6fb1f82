using Portal.Agents.Tools;

namespace Portal.Agents.Approvals;

/// <summary>When the agent must ask before a tool runs (seed 001's policies).</summary>
public enum ApprovalPolicy
{
    /// <summary>Known read-only commands and file reads run; every other command and every patch asks.</summary>
    Suggest,
    /// <summary>As suggest, and patches inside the working directory run without asking.</summary>
    AutoEdit,
    /// <summary>Everything runs without asking, still inside the working directory and without secrets in the environment.</summary>
    FullAuto,
}

public static class ApprovalPolicies
{
    public static bool TryParse(string? text, out ApprovalPolicy policy)
    {
        (var known, policy) = text?.Trim().ToLowerInvariant().Replace('_', '-') switch
        {
            "suggest" => (true, ApprovalPolicy.Suggest),
            "auto-edit" or "autoedit" => (true, ApprovalPolicy.AutoEdit),
            "full-auto" or "fullauto" => (true, ApprovalPolicy.FullAuto),
            _ => (false, ApprovalPolicy.Suggest),
        };
        return known;
    }

    public static string WireName(this ApprovalPolicy policy) => policy switch
    {
        ApprovalPolicy.AutoEdit => "auto-edit",
        ApprovalPolicy.FullAuto => "full-auto",
        _ => "suggest",
    };
}

/// <summary>Whether a call runs at once or waits for a person, and the reason shown when it waits.</summary>
public sealed record ApprovalCheck(bool Ask, string Reason)
{
    public static ApprovalCheck Run(string reason) => new(false, reason);
    public static ApprovalCheck AskFirst(string reason) => new(true, reason);
}

/// <summary>
/// The "always" answers of one session: exact argv lists, and files patches may touch. Never shared between sessions,
/// never keyed by a command's first word, never recorded for compound commands.
/// </summary>
public sealed class SessionApprovals
{
    private readonly HashSet<string> _commands = new(StringComparer.Ordinal);
    private readonly HashSet<string> _files = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Remembers an "always": the exact command, or the patch's files. Returns false when nothing can be remembered.</summary>
    public bool Remember(IReadOnlyList<string>? command, IReadOnlyList<string>? files)
    {
        lock (_gate)
        {
            if (command is { Count: > 0 } && !SafeCommands.IsCompound(command))
            {
                _commands.Add(Key(command));
                return true;
            }
            if (files is { Count: > 0 })
            {
                foreach (var file in files)
                {
                    _files.Add(file);
                }
                return true;
            }
            return false;
        }
    }

    public bool Allows(IReadOnlyList<string> command)
    {
        lock (_gate)
        {
            return _commands.Contains(Key(command));
        }
    }

    public bool AllowsFiles(IReadOnlyList<string> files)
    {
        lock (_gate)
        {
            return files.Count > 0 && files.All(_files.Contains);
        }
    }

    /// <summary>Whether <paramref name="invocation"/> may run now under <paramref name="policy"/> and this session's answers.</summary>
    public ApprovalCheck Check(ToolInvocation invocation, ApprovalPolicy policy, IReadOnlyList<string> patchFiles, WorkingDirectory? workingDirectory = null)
    {
        switch (invocation.Kind)
        {
            case ToolKind.ReadFile or ToolKind.ListDir:
                return ApprovalCheck.Run("reads inside the working directory");
            case ToolKind.Shell when policy == ApprovalPolicy.FullAuto:
                return ApprovalCheck.Run("full-auto policy");
            case ToolKind.Shell when SafeCommands.IsReadOnly(invocation.Argv!, workingDirectory):
                return ApprovalCheck.Run("known read-only command");
            case ToolKind.Shell when Allows(invocation.Argv!):
                return ApprovalCheck.Run("approved with \"always\" earlier in this session");
            case ToolKind.Shell:
                return ApprovalCheck.AskFirst(SafeCommands.IsCompound(invocation.Argv!)
                    ? "The command runs several commands through a shell; it is not a known read-only command."
                    : "The command is not a known read-only command.");
            case ToolKind.Patch when policy == ApprovalPolicy.AutoEdit && patchFiles.FirstOrDefault(ConfiguresGit) is { } gitFile:
                // git obeys these files (core.fsmonitor, diff.external, filters), and git status/diff run without asking.
                return ApprovalCheck.AskFirst($"The patch edits {gitFile}, which configures what git runs; auto-edit asks for those.");
            case ToolKind.Patch when policy is ApprovalPolicy.FullAuto or ApprovalPolicy.AutoEdit:
                return ApprovalCheck.Run(policy.WireName() + " policy");
            case ToolKind.Patch when AllowsFiles(patchFiles):
                return ApprovalCheck.Run("these files were approved with \"always\" earlier in this session");
            case ToolKind.Patch:
                return ApprovalCheck.AskFirst(patchFiles.Count == 0 ? "The patch edits files." : "The patch edits " + string.Join(", ", patchFiles) + ".");
            default:
                return ApprovalCheck.Run("nothing to run");
        }
    }

    /// <summary>A path inside a .git folder, or a .gitattributes or .gitmodules file: git reads commands to run from them.</summary>
    internal static bool ConfiguresGit(string path)
    {
        var parts = path.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        return parts.Any(p => p.Equals(".git", StringComparison.OrdinalIgnoreCase))
            || parts.LastOrDefault() is { } name && (name.Equals(".gitattributes", StringComparison.OrdinalIgnoreCase) || name.Equals(".gitmodules", StringComparison.OrdinalIgnoreCase));
    }

    private static string Key(IReadOnlyList<string> command) => string.Join('\0', command);
}
