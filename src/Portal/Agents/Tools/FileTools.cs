using System.Globalization;
using System.Text;

namespace Portal.Agents.Tools;

/// <summary>The read-only tools: read a file, list a folder. Both stay inside the working directory.</summary>
public static class FileTools
{
    public const int MaxReadBytes = 64 * 1024;
    public const int MaxEntries = 500;

    public static async Task<ToolResult> ReadFileAsync(WorkingDirectory directory, string? path, int offset, int limit, CancellationToken cancellationToken)
    {
        var full = directory.Resolve(path);
        if (full is null)
        {
            return ToolResult.Failure($"Refused: '{path}' is outside the working directory.");
        }
        if (!File.Exists(full))
        {
            return ToolResult.Failure($"'{path}' does not exist or is not a file.");
        }
        var text = new StringBuilder();
        var lineNumber = 0;
        var shown = 0;
        var truncated = false;
        using var reader = new StreamReader(full, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            lineNumber++;
            if (lineNumber <= offset)
            {
                continue;
            }
            if (shown >= limit || text.Length + line.Length > MaxReadBytes)
            {
                truncated = true;
                break;
            }
            text.Append(line).Append('\n');
            shown++;
        }
        if (truncated)
        {
            text.Append(CultureInfo.InvariantCulture, $"[... more lines; read on with offset {offset + shown}]\n");
        }
        return new ToolResult(text.ToString(), ExitCode: 0, Truncated: truncated);
    }

    public static ToolResult ListDirectory(WorkingDirectory directory, string? path, int depth)
    {
        var full = directory.Resolve(path);
        if (full is null)
        {
            return ToolResult.Failure($"Refused: '{path}' is outside the working directory.");
        }
        if (!Directory.Exists(full))
        {
            return ToolResult.Failure($"'{path}' does not exist or is not a folder.");
        }
        var lines = new List<string>();
        var truncated = false;
        Walk(full, 0);
        if (truncated)
        {
            lines.Add($"[... more than {MaxEntries} entries]");
        }
        return new ToolResult(lines.Count == 0 ? "(empty)" : string.Join('\n', lines), ExitCode: 0, Truncated: truncated);

        void Walk(string folder, int level)
        {
            IEnumerable<FileSystemInfo> entries;
            try
            {
                entries = new DirectoryInfo(folder).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
            }
            catch (UnauthorizedAccessException)
            {
                lines.Add(new string(' ', level * 2) + "[not readable]");
                return;
            }
            foreach (var entry in entries)
            {
                if (lines.Count >= MaxEntries)
                {
                    truncated = true;
                    return;
                }
                var indent = new string(' ', level * 2);
                if (entry is DirectoryInfo folderEntry)
                {
                    lines.Add($"{indent}{entry.Name}/");
                    // Links are listed, not followed: a link could lead outside the working directory.
                    if (level + 1 < depth && entry.LinkTarget is null)
                    {
                        Walk(folderEntry.FullName, level + 1);
                    }
                }
                else
                {
                    var size = entry is FileInfo file ? file.Length : 0;
                    lines.Add(string.Create(CultureInfo.InvariantCulture, $"{indent}{entry.Name}  ({size} bytes){(entry.LinkTarget is null ? "" : " -> " + entry.LinkTarget)}"));
                }
            }
        }
    }
}
