using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Options;

namespace Portal.Agents.Offline;

public sealed class OfflineAgentOptions
{
    public const string Section = "Portal:OfflineAgent";

    /// <summary>Pause between streamed words, so the stream can be watched.</summary>
    public TimeSpan TokenDelay { get; set; } = TimeSpan.FromMilliseconds(25);
}

/// <summary>
/// The built-in agent used when no model provider is configured: deterministic, needs no network or key,
/// and says what it is in every reply.
/// </summary>
public sealed class OfflineAgent(IOptions<OfflineAgentOptions> options, TimeProvider time)
{
    public const string Name = "Offline agent";
    public const string Label = "**Offline agent** (built in, no model configured)";

    public static string Reply(string userText)
    {
        var text = userText.Trim();
        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        var reply = new StringBuilder()
            .Append(Label).Append("\n\n")
            .Append("You wrote ").Append(words).Append(words == 1 ? " word" : " words").Append(": \u201c")
            .Append(text.Length > 500 ? text[..500] + "\u2026" : text).Append("\u201d\n\n")
            .Append("This reply is generated locally, without a language model. To chat with a real model, set ")
            .Append("`OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or `GOOGLE_API_KEY` and restart Portal.");
        return reply.ToString();
    }

    /// <summary>Streams <see cref="Reply"/> in small pieces (a word and its following space each).</summary>
    public async IAsyncEnumerable<string> StreamReplyAsync(string userText, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reply = Reply(userText);
        var delay = options.Value.TokenDelay;
        var start = 0;
        for (var i = 0; i <= reply.Length; i++)
        {
            if ((i == reply.Length && start < reply.Length) || (i < reply.Length && reply[i] == ' ' && i > start))
            {
                var end = Math.Min(i + 1, reply.Length);
                yield return reply[start..end];
                start = end;
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, time, cancellationToken);
                }
            }
        }
    }
}
