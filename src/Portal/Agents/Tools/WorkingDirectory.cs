namespace Portal.Agents.Tools;

/// <summary>
/// The folder an agent's tools work in. Every path a tool touches is resolved inside it, following symbolic links,
/// so neither "../" nor a link pointing outside can reach anything else.
/// </summary>
public sealed class WorkingDirectory
{
    public WorkingDirectory(string root)
    {
        var full = Path.GetFullPath(root);
        Directory.CreateDirectory(full);
        Root = RealPath(full).TrimEnd(Path.DirectorySeparatorChar);
    }

    /// <summary>The folder's real path (symbolic links resolved).</summary>
    public string Root { get; }

    /// <summary>Resolves <paramref name="path"/> (relative to the root, or absolute) to a real path inside the root; null when it lies outside.</summary>
    public string? Resolve(string? path)
    {
        if (string.IsNullOrWhiteSpace(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            return string.IsNullOrWhiteSpace(path) ? Root : null;
        }
        var full = Path.GetFullPath(path, Root);
        string real;
        try
        {
            real = RealPath(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // a loop of links, or a link that cannot be read, leads nowhere a tool may go
        }
        return IsInside(real) ? real : null;
    }

    /// <summary>The path relative to the root, with '/' separators, for showing to people and models.</summary>
    public string Relative(string fullPath)
    {
        var relative = Path.GetRelativePath(Root, fullPath);
        return relative == "." ? "." : relative.Replace(Path.DirectorySeparatorChar, '/');
    }

    private bool IsInside(string path) =>
        path == Root || path.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>
    /// The real path of <paramref name="full"/>: every existing component with its links resolved (as realpath(3)
    /// does), the components that do not exist yet appended as they are.
    /// </summary>
    internal static string RealPath(string full)
    {
        var parts = full.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var current = Path.DirectorySeparatorChar.ToString();
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (!info.Exists)
            {
                // Nothing further exists: the rest cannot be a link.
                return Path.GetFullPath(Path.Combine([current, .. parts[i..]]));
            }
            if (info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                next = target is null ? next : RealPath(Path.GetFullPath(target.FullName));
            }
            current = next;
        }
        return current;
    }
}
