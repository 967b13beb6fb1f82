using System.Text;

namespace Portal.Agents.Tools;

public enum ChangeKind { Add, Update, Delete }

/// <summary>
/// A block of a file's lines to find (<see cref="Old"/>) and what replaces it (<see cref="New"/>). <see cref="OldStart"/>
/// is a unified diff's line number in the original file; <see cref="Context"/> is the line after a Codex <c>@@</c>
/// (e.g. <c>@@ def main():</c>): the block is looked for after that line.
/// </summary>
public sealed record Hunk(IReadOnlyList<string> Old, IReadOnlyList<string> New, int? OldStart = null, string? Context = null);

/// <summary>One file a patch touches.</summary>
public sealed record FileChange(ChangeKind Kind, string Path, IReadOnlyList<Hunk> Hunks, string? Content = null, string? MoveTo = null);

/// <summary>
/// Applies patches in either of the two formats models write: Codex's (<c>*** Begin Patch</c>, <c>*** Add File:</c>,
/// <c>*** Update File:</c>, <c>*** Delete File:</c>, <c>*** Move to:</c>, <c>@@</c> hunks) and unified diffs
/// (<c>---</c>/<c>+++</c>/<c>@@ -a,b +c,d @@</c>). Every path must resolve inside the working directory (symbolic links
/// followed); all hunks are checked before anything is written, so a patch applies whole or not at all.
/// </summary>
public static class PatchTool
{
    public static IReadOnlyList<FileChange> Parse(string patch)
    {
        var text = patch.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n');
        return text.TrimStart().StartsWith("*** Begin Patch", StringComparison.Ordinal) ? ParseCodex(text) : ParseUnified(text);
    }

    /// <summary>The files a patch would touch, for approval decisions; empty when the patch does not parse.</summary>
    public static IReadOnlyList<string> Targets(string patch)
    {
        try
        {
            return Parse(patch).SelectMany(c => c.MoveTo is null ? [c.Path] : new[] { c.Path, c.MoveTo }).Distinct().ToList();
        }
        catch (FormatException)
        {
            return [];
        }
    }

    public static async Task<ToolResult> ApplyAsync(string patch, WorkingDirectory directory, CancellationToken cancellationToken)
    {
        IReadOnlyList<FileChange> changes;
        try
        {
            changes = Parse(patch);
        }
        catch (FormatException ex)
        {
            return ToolResult.Failure("The patch does not parse: " + ex.Message);
        }
        if (changes.Count == 0)
        {
            return ToolResult.Failure("The patch changes nothing.");
        }

        // First compute every result in memory: nothing is written unless all of it applies.
        var writes = new List<(string Path, string? Content)>();
        var summary = new StringBuilder();
        foreach (var change in changes)
        {
            var path = directory.Resolve(change.Path);
            var moveTo = change.MoveTo is null ? null : directory.Resolve(change.MoveTo);
            if (path is null || (change.MoveTo is not null && moveTo is null))
            {
                return ToolResult.Failure($"Refused: '{change.MoveTo ?? change.Path}' is outside the working directory.");
            }
            switch (change.Kind)
            {
                case ChangeKind.Add:
                    if (File.Exists(path) || Directory.Exists(path))
                    {
                        return ToolResult.Failure($"Cannot add '{change.Path}': it already exists.");
                    }
                    writes.Add((path, change.Content ?? ""));
                    summary.Append("A ").AppendLine(directory.Relative(path));
                    break;
                case ChangeKind.Delete:
                    if (!File.Exists(path))
                    {
                        return ToolResult.Failure($"Cannot delete '{change.Path}': it does not exist.");
                    }
                    writes.Add((path, null));
                    summary.Append("D ").AppendLine(directory.Relative(path));
                    break;
                default:
                    if (!File.Exists(path))
                    {
                        return ToolResult.Failure($"Cannot update '{change.Path}': it does not exist.");
                    }
                    var original = await File.ReadAllTextAsync(path, cancellationToken);
                    var updated = ApplyHunks(original, change.Hunks, out var error);
                    if (updated is null)
                    {
                        return ToolResult.Failure($"Cannot update '{change.Path}': {error}");
                    }
                    if (moveTo is not null && moveTo != path)
                    {
                        writes.Add((path, null));
                        writes.Add((moveTo, updated));
                        summary.Append("R ").Append(directory.Relative(path)).Append(" -> ").AppendLine(directory.Relative(moveTo));
                    }
                    else
                    {
                        writes.Add((path, updated));
                        summary.Append("M ").AppendLine(directory.Relative(path));
                    }
                    break;
            }
        }
        // Writing is not cancelled half-way, and a write that fails (a folder in the way, a full disk) puts back what
        // the patch already wrote: it still applies whole or not at all.
        var written = new List<(string Path, byte[]? Before)>();
        try
        {
            foreach (var (path, content) in writes)
            {
                written.Add((path, File.Exists(path) ? await File.ReadAllBytesAsync(path, CancellationToken.None) : null));
                if (content is null)
                {
                    File.Delete(path);
                }
                else
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    await File.WriteAllTextAsync(path, content, CancellationToken.None);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var restored = await RestoreAsync(written);
            return ToolResult.Failure($"Cannot apply the patch: {ex.Message} " + (restored ? "Nothing was changed." : "Some files could not be put back."));
        }
        return new ToolResult("Done:\n" + summary, ExitCode: 0);
    }

    private static async Task<bool> RestoreAsync(List<(string Path, byte[]? Before)> written)
    {
        var restored = true;
        for (var i = written.Count - 1; i >= 0; i--)
        {
            var (path, before) = written[i];
            try
            {
                if (before is null)
                {
                    File.Delete(path);
                }
                else
                {
                    await File.WriteAllBytesAsync(path, before, CancellationToken.None);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                restored = false;
            }
        }
        return restored;
    }

    internal static string? ApplyHunks(string original, IReadOnlyList<Hunk> hunks, out string? error)
    {
        error = null;
        // An empty file is taken as ending in a newline, so that added lines end in one too.
        var endsWithNewline = original.Length == 0 || original.EndsWith('\n');
        // A file with Windows line endings keeps them.
        var newline = original.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        var lines = original.Length == 0 ? [] : original.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').ToList();
        if (original.Length > 0 && endsWithNewline)
        {
            lines.RemoveAt(lines.Count - 1);
        }
        var from = 0;
        // Lines added minus lines removed so far: unified diffs number lines as in the original file.
        var shift = 0;
        for (var h = 0; h < hunks.Count; h++)
        {
            var hunk = hunks[h];
            if (hunk.Context is { } context)
            {
                var contextAt = Find(lines, [context], from, from);
                if (contextAt < 0)
                {
                    error = $"hunk {h + 1}: the line \"{context}\" is not in the file.";
                    return null;
                }
                from = contextAt + 1;
            }
            // A unified hunk without old lines inserts after line OldStart ("@@ -5,0 +6 @@": after line 5).
            var at = hunk.Old.Count == 0
                ? hunk.OldStart is { } start ? Math.Clamp(start + shift, 0, lines.Count) : hunk.Context is null ? lines.Count : from
                : Find(lines, hunk.Old, hunk.OldStart is { } first ? Math.Max(0, first - 1 + shift) : from, from);
            if (at < 0)
            {
                error = $"hunk {h + 1} does not match the file (expected: \"{string.Join("\\n", hunk.Old.Take(3))}\"...).";
                return null;
            }
            lines.RemoveRange(at, hunk.Old.Count);
            lines.InsertRange(at, hunk.New);
            from = at + hunk.New.Count;
            shift += hunk.New.Count - hunk.Old.Count;
        }
        var result = string.Join(newline, lines);
        return endsWithNewline && lines.Count > 0 ? result + newline : result;
    }

    /// <summary>Where <paramref name="old"/> stands: exactly, then ignoring trailing spaces, then ignoring indentation too.</summary>
    private static int Find(List<string> lines, IReadOnlyList<string> old, int hint, int from)
    {
        foreach (var normalize in new Func<string, string>[] { s => s, s => s.TrimEnd(), s => s.Trim() })
        {
            foreach (var origin in new[] { hint, from, 0 }.Distinct())
            {
                for (var i = origin; i + old.Count <= lines.Count; i++)
                {
                    var match = true;
                    for (var j = 0; j < old.Count && match; j++)
                    {
                        match = normalize(lines[i + j]) == normalize(old[j]);
                    }
                    if (match)
                    {
                        return i;
                    }
                }
            }
        }
        return -1;
    }

    private static List<FileChange> ParseCodex(string text)
    {
        var lines = text.Split('\n');
        var changes = new List<FileChange>();
        var i = 0;
        while (i < lines.Length && !lines[i].StartsWith("*** Begin Patch", StringComparison.Ordinal))
        {
            i++;
        }
        i++;
        while (i < lines.Length)
        {
            var line = lines[i];
            if (line.StartsWith("*** End Patch", StringComparison.Ordinal))
            {
                return changes;
            }
            if (line.StartsWith("*** Add File: ", StringComparison.Ordinal))
            {
                var path = line["*** Add File: ".Length..].Trim();
                var content = new StringBuilder();
                i++;
                while (i < lines.Length && !lines[i].StartsWith("*** ", StringComparison.Ordinal))
                {
                    if (!lines[i].StartsWith('+'))
                    {
                        throw new FormatException($"line {i + 1}: added files have only '+' lines.");
                    }
                    content.Append(lines[i][1..]).Append('\n');
                    i++;
                }
                changes.Add(new FileChange(ChangeKind.Add, path, [], content.ToString()));
            }
            else if (line.StartsWith("*** Delete File: ", StringComparison.Ordinal))
            {
                changes.Add(new FileChange(ChangeKind.Delete, line["*** Delete File: ".Length..].Trim(), []));
                i++;
            }
            else if (line.StartsWith("*** Update File: ", StringComparison.Ordinal))
            {
                var path = line["*** Update File: ".Length..].Trim();
                string? moveTo = null;
                i++;
                if (i < lines.Length && lines[i].StartsWith("*** Move to: ", StringComparison.Ordinal))
                {
                    moveTo = lines[i]["*** Move to: ".Length..].Trim();
                    i++;
                }
                var hunks = new List<Hunk>();
                List<string>? old = null, @new = null;
                string? context = null;
                while (i < lines.Length && !(lines[i].StartsWith("*** ", StringComparison.Ordinal) && !lines[i].StartsWith("*** End of File", StringComparison.Ordinal)))
                {
                    var l = lines[i];
                    if (l.StartsWith("@@", StringComparison.Ordinal))
                    {
                        Flush();
                        old = [];
                        @new = [];
                        context = l[2..].Trim() is { Length: > 0 } header ? header : null;
                    }
                    else if (l.StartsWith("*** End of File", StringComparison.Ordinal))
                    {
                        // Marks that the hunk ends the file; matching does not need it.
                    }
                    else
                    {
                        old ??= [];
                        @new ??= [];
                        if (!AddHunkLine(l, old, @new))
                        {
                            throw new FormatException($"line {i + 1}: expected ' ', '-', '+' or '@@'.");
                        }
                    }
                    i++;
                }
                Flush();
                if (hunks.Count == 0 && moveTo is null)
                {
                    throw new FormatException($"'{path}' is updated without any hunk.");
                }
                changes.Add(new FileChange(ChangeKind.Update, path, hunks, MoveTo: moveTo));

                void Flush()
                {
                    if (old is { Count: > 0 } || @new is { Count: > 0 })
                    {
                        hunks.Add(new Hunk(old!, @new!, Context: context));
                    }
                    old = null;
                    @new = null;
                    context = null;
                }
            }
            else if (line.Trim().Length == 0)
            {
                i++;
            }
            else
            {
                throw new FormatException($"line {i + 1}: unexpected '{line}'.");
            }
        }
        throw new FormatException("missing '*** End Patch'.");
    }

    private static List<FileChange> ParseUnified(string text)
    {
        var lines = text.Split('\n');
        var changes = new List<FileChange>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith("--- ", StringComparison.Ordinal) || i + 1 >= lines.Length || !lines[i + 1].StartsWith("+++ ", StringComparison.Ordinal))
            {
                continue;
            }
            var oldPath = DiffPath(lines[i][4..]);
            var newPath = DiffPath(lines[i + 1][4..]);
            i += 2;
            var hunks = new List<Hunk>();
            while (i < lines.Length && lines[i].StartsWith("@@", StringComparison.Ordinal))
            {
                var oldStart = HunkStart(lines[i]);
                var old = new List<string>();
                var @new = new List<string>();
                i++;
                while (i < lines.Length && !lines[i].StartsWith("@@", StringComparison.Ordinal) && !lines[i].StartsWith("--- ", StringComparison.Ordinal))
                {
                    var l = lines[i];
                    if (l.StartsWith('\\'))
                    {
                        i++; // "\ No newline at end of file"
                        continue;
                    }
                    if (!AddHunkLine(l, old, @new))
                    {
                        goto endOfHunk;
                    }
                    i++;
                }
            endOfHunk:
                hunks.Add(new Hunk(old, @new, oldStart));
            }
            i--;
            if (oldPath is null && newPath is not null)
            {
                changes.Add(new FileChange(ChangeKind.Add, newPath, [], string.Concat(hunks.SelectMany(h => h.New).Select(l => l + "\n"))));
            }
            else if (newPath is null && oldPath is not null)
            {
                changes.Add(new FileChange(ChangeKind.Delete, oldPath, []));
            }
            else if (oldPath is not null && newPath is not null)
            {
                changes.Add(new FileChange(ChangeKind.Update, oldPath, hunks, MoveTo: oldPath == newPath ? null : newPath));
            }
        }
        if (changes.Count == 0)
        {
            throw new FormatException("neither a Codex patch (*** Begin Patch) nor a unified diff (---/+++/@@).");
        }
        return changes;
    }

    /// <summary>"a/src/x.cs\t2024-..." becomes "src/x.cs"; /dev/null becomes null.</summary>
    private static string? DiffPath(string raw)
    {
        var path = raw.Split('\t')[0].Trim();
        if (path == "/dev/null")
        {
            return null;
        }
        return path.StartsWith("a/", StringComparison.Ordinal) || path.StartsWith("b/", StringComparison.Ordinal) ? path[2..] : path;
    }

    private static int? HunkStart(string header)
    {
        // @@ -12,5 +12,6 @@
        var minus = header.IndexOf('-', StringComparison.Ordinal);
        if (minus < 0)
        {
            return null;
        }
        var digits = new string(header[(minus + 1)..].TakeWhile(char.IsAsciiDigit).ToArray());
        return int.TryParse(digits, System.Globalization.CultureInfo.InvariantCulture, out var start) ? start : null;
    }

    /// <summary>A hunk line of either format: '-' old only, '+' new only, ' ' (or empty) both. False for anything else.</summary>
    private static bool AddHunkLine(string line, List<string> old, List<string> @new)
    {
        switch (line.Length == 0 ? ' ' : line[0])
        {
            case '-':
                old.Add(line[1..]);
                return true;
            case '+':
                @new.Add(line[1..]);
                return true;
            case ' ':
                var text = line.Length == 0 ? "" : line[1..];
                old.Add(text);
                @new.Add(text);
                return true;
            default:
                return false;
        }
    }
}
