using System.Text;
using Portal.Agents.Providers;
using Portal.Agents.Tools;

namespace Portal.Agents.Runtime;

/// <summary>The requests the loop makes of a model besides the conversation itself: explanations and summaries.</summary>
public static class AgentPrompts
{
    public const string ExplainHeading = "Explain this tool call in plain words";
    public const string SummaryHeading = "Summarise the conversation so far";

    public const string ExplainInstructions =
        "You explain tool calls to a person deciding whether to approve them. Say in a few plain sentences what the call " +
        "would do, what it changes, and what could go wrong. Do not run anything and do not ask questions.";

    public const string SummaryInstructions =
        "You compress conversations. Write a concise summary of the conversation below that keeps every fact, decision, " +
        "file name, command and open question a continuation would need. Write only the summary.";

    public static ModelRequest Explain(ModelRequest template, ToolInvocation invocation)
    {
        var text = new StringBuilder(ExplainHeading).Append(":\n\n");
        switch (invocation.Kind)
        {
            case ToolKind.Shell:
                text.Append("Command (argv): ").Append(System.Text.Json.JsonSerializer.Serialize(invocation.Argv)).Append('\n');
                if (invocation.Workdir is { } workdir)
                {
                    text.Append("In folder: ").Append(workdir).Append('\n');
                }
                break;
            case ToolKind.Patch:
                text.Append("Patch:\n").Append(invocation.Patch).Append('\n');
                break;
            default:
                text.Append("Tool: ").Append(invocation.Call.Name).Append("\nArguments: ").Append(invocation.Call.Arguments).Append('\n');
                break;
        }
        return template with { Instructions = ExplainInstructions, Messages = [new UserMessage(text.ToString())], Tools = [], MaxTokens = 600 };
    }

    public static ModelRequest Summarise(ModelRequest template, string? previousSummary, IEnumerable<ModelMessage> messages)
    {
        var text = new StringBuilder(SummaryHeading).Append(":\n\n");
        if (previousSummary is not null)
        {
            text.Append("[earlier summary] ").Append(previousSummary).Append("\n\n");
        }
        foreach (var message in messages)
        {
            switch (message)
            {
                case UserMessage user:
                    text.Append("[user] ").Append(user.Text).Append('\n');
                    break;
                case AssistantMessage assistant:
                    if (assistant.Text.Length > 0)
                    {
                        text.Append("[assistant] ").Append(assistant.Text).Append('\n');
                    }
                    foreach (var call in assistant.ToolCalls)
                    {
                        text.Append("[tool call] ").Append(call.Name).Append(' ').Append(call.Arguments).Append('\n');
                    }
                    break;
                case ToolResultMessage result:
                    text.Append("[tool result] ").Append(result.Output.Length > 2_000 ? result.Output[..2_000] + "…" : result.Output).Append('\n');
                    break;
            }
        }
        return template with { Instructions = SummaryInstructions, Messages = [new UserMessage(text.ToString())], Tools = [], MaxTokens = 1_000 };
    }
}
