using AngleSharp.Html.Parser;
using Portal.Components.Chat;

namespace Portal.Tests.Components;

public sealed class MarkdownTests
{
    private static readonly HtmlParser Parser = new();

    /// <summary>The whole reply's HTML, as the page shows it: its blocks one after the other.</summary>
    private static string Html(string markdown) => string.Concat(Markdown.ToHtmlBlocks(markdown));

    [Fact]
    public void Html_ScriptTag_IsRenderedAsText()
    {
        var html = Html("Hello <script>alert('x')</script> world");
        var document = Parser.ParseDocument(html);

        Assert.Empty(document.QuerySelectorAll("script"));
        Assert.Contains("<script>alert('x')</script>", document.Body!.TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void Html_ImageWithOnError_IsRenderedAsText()
    {
        var document = Parser.ParseDocument(Html("<img src=x onerror=alert(1)>"));

        Assert.Empty(document.QuerySelectorAll("img"));
        Assert.DoesNotContain(document.All, e => e.Attributes.Any(a => a.Name.StartsWith("on", StringComparison.OrdinalIgnoreCase)));
    }

    [Theory]
    [InlineData("[click](javascript:alert(1))")]
    [InlineData("[click](JavaScript:alert(1))")]
    [InlineData("[click](data:text/html;base64,PHNjcmlwdD4=)")]
    [InlineData("[click](vbscript:msgbox)")]
    public void Html_DangerousLinkSchemes_AreNeutralised(string markdown)
    {
        var document = Parser.ParseDocument(Html(markdown));

        Assert.All(document.QuerySelectorAll("a"), a => Assert.Equal("#", a.GetAttribute("href")));
    }

    [Theory]
    [InlineData("[docs](https://example.com/a?b=c)", "https://example.com/a?b=c")]
    [InlineData("[mail](mailto:someone@example.com)", "mailto:someone@example.com")]
    [InlineData("[here](/c/abc)", "/c/abc")]
    public void Html_OrdinaryLinks_AreKept(string markdown, string href)
    {
        var document = Parser.ParseDocument(Html(markdown));

        Assert.Equal(href, document.QuerySelector("a")!.GetAttribute("href"));
    }

    [Fact]
    public void Html_CodeAndEmphasis_AreRendered()
    {
        var document = Parser.ParseDocument(Html("**bold** and `code`\n\n```\nls -la\n```"));

        Assert.Equal("bold", document.QuerySelector("strong")!.TextContent);
        Assert.Equal("ls -la\n", document.QuerySelector("pre code")!.TextContent);
    }

    [Fact]
    public void Html_CodeBlocks_GetACopyButton_AndTheirCodeStaysText()
    {
        var document = Parser.ParseDocument(Html("```html\n<button data-copy-code>x</button>\n```\n\n    indented"));

        var blocks = document.QuerySelectorAll("div.chat-code");
        Assert.Equal(2, blocks.Length);
        Assert.All(blocks, b => Assert.Equal("Copy", b.QuerySelector("button[data-copy-code]")!.TextContent));
        // The code's own markup is text: one button per block, Portal's.
        Assert.Equal(2, document.QuerySelectorAll("button").Length);
        Assert.Equal("<button data-copy-code>x</button>\n", blocks[0].QuerySelector("pre code")!.TextContent);
    }

    [Fact]
    public void ToHtmlBlocks_AreTheDocumentBlockByBlock()
    {
        const string reply = "# Plan\n\nFirst **step**.\n\n- one\n- two\n\n```sh\nls -l\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[ref]: https://example.com\nSee [the docs][ref].";

        var blocks = Markdown.ToHtmlBlocks(reply);

        Assert.Equal(["h1", "p", "ul", "div", "table", "p"], blocks.Select(b => Parser.ParseFragment(b, Parser.ParseDocument("").Body!).OfType<AngleSharp.Dom.IElement>().Single().LocalName));
        // A reference defined in its own block still resolves in the block that uses it.
        Assert.Contains("href=\"https://example.com\"", blocks[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void ToHtmlBlocks_AsAReplyStreams_OnlyTheLastBlockChanges()
    {
        var before = Markdown.ToHtmlBlocks("Intro paragraph.\n\n```py\nprint(1)\n```\n\nThe last one is still");
        var after = Markdown.ToHtmlBlocks("Intro paragraph.\n\n```py\nprint(1)\n```\n\nThe last one is still arriving");
        var more = Markdown.ToHtmlBlocks("Intro paragraph.\n\n```py\nprint(1)\n```\n\nThe last one is still arriving.\n\nA new one");

        Assert.Equal(before.Take(2), after.Take(2));
        Assert.NotEqual(before[2], after[2]);
        Assert.Equal(3, after.Count);
        Assert.Equal(after.Take(2), more.Take(2));
        Assert.Equal(4, more.Count);
    }

    [Fact]
    public void ToHtmlBlocks_StayFreeOfMarkupFromTheModel()
    {
        var blocks = Markdown.ToHtmlBlocks("Fine.\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[x](javascript:alert(3))");

        var document = Parser.ParseDocument(string.Concat(blocks));
        Assert.Empty(document.QuerySelectorAll("script, img"));
        Assert.Equal("#", document.QuerySelector("a")!.GetAttribute("href"));
    }
}
