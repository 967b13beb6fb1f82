using AngleSharp.Html.Parser;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Components.Chat;

namespace Portal.Tests.Components;

public sealed class ToolCallCardTests
{
    [Fact]
    public async Task Render_AnExplainedCall_ShowsTheExplanationInTheCardAsMarkdown_AboveTheApproval()
    {
        var card = Card("It **creates** `x.txt`.\n\n<script>alert(1)</script><img src=x onerror=alert(2)>");

        var document = new HtmlParser().ParseDocument(await RenderAsync(card));

        var why = document.QuerySelector("article[data-testid=tool-call] [data-testid=tool-explanation]");
        Assert.NotNull(why);
        Assert.Contains("Why this call", why.QuerySelector(".chat-tool-why-head")!.TextContent, StringComparison.Ordinal);
        Assert.Equal("creates", why.QuerySelector("strong")!.TextContent);
        Assert.Equal("x.txt", why.QuerySelector("code")!.TextContent);
        Assert.Empty(document.QuerySelectorAll("script, img"));
        Assert.Contains("<script>alert(1)</script>", why.TextContent, StringComparison.Ordinal);
        // Read before deciding: the explanation comes before the buttons.
        Assert.True(why.CompareDocumentPosition(document.QuerySelector("[data-testid=approval]")!).HasFlag(AngleSharp.Dom.DocumentPositions.Following));
    }

    [Fact]
    public async Task Render_WhileTheExplanationStreams_TheCardSaysItIsExplaining()
    {
        var card = Card("It creates");
        card.Tool!.AwaitingApproval = false;
        card.Tool.Decision = "explain";
        card.Tool.Explanations[0].Streaming = true;

        var document = new HtmlParser().ParseDocument(await RenderAsync(card));

        Assert.Equal("explaining", document.QuerySelector("[data-testid=tool-state]")!.TextContent);
        Assert.Equal("true", document.QuerySelector("[data-testid=tool-explanation]")!.GetAttribute("aria-busy"));
    }

    private static ChatMessage Card(string explanationText)
    {
        var card = new ChatMessage("ccall_1", "tool", DateTimeOffset.UnixEpoch, ChatMessageKind.ToolCall)
        {
            Tool = new ToolCallView
            {
                CallId = "call_1", Name = "shell", Arguments = """{"command":["touch","x.txt"]}""",
                Command = ["touch", "x.txt"], Reason = "The command is not a known read-only command.", AwaitingApproval = true,
            },
        };
        var explanation = new ChatMessage("i2", "assistant", DateTimeOffset.UnixEpoch) { Explains = "call_1", Agent = "Offline agent" };
        explanation.Append(explanationText);
        card.Tool.Explanations.Add(explanation);
        return card;
    }

    private static async Task<string> RenderAsync(ChatMessage card)
    {
        await using var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        await using var renderer = new HtmlRenderer(services, NullLoggerFactory.Instance);
        return await renderer.Dispatcher.InvokeAsync(async () =>
        {
            var output = await renderer.RenderComponentAsync<ToolCallCard>(ParameterView.FromDictionary(new Dictionary<string, object?> { ["Message"] = card }));
            return output.ToHtmlString();
        });
    }
}
