using System.Text.Json;

namespace Portal.Agents.Tools;

/// <summary>What a tool call produced: the text the model sees, and facts for the log.</summary>
public sealed record ToolResult(string Output, int? ExitCode = null, bool TimedOut = false, bool Truncated = false, TimeSpan Duration = default)
{
    /// <summary>The output as the model receives it: Codex's shape, the output with its exit code and duration.</summary>
    public string ForModel() => JsonSerializer.Serialize(new
    {
        output = Output,
        metadata = new { exit_code = ExitCode, duration_seconds = Math.Round(Duration.TotalSeconds, 3), timed_out = TimedOut, truncated = Truncated },
    });

    public static ToolResult Failure(string message) => new(message, ExitCode: 1);
}
