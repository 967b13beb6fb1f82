using Markdig;
using Markdig.Renderers.Html;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace Portal.Components.Chat;

/// <summary>
/// Renders model output as Markdown with raw HTML disabled and only http(s), mailto and relative links kept, so a
/// reply can never inject markup or script into the page.
/// </summary>
public static class Markdown
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .DisableHtml()
        .UsePipeTables()
        .UseEmphasisExtras()
        .UseTaskLists()
        .UseAutoLinks()
        .UseListExtras()
        .Build();

    /// <summary>
    /// The HTML of each top-level block (paragraph, list, code block, table...), in order; together they are the
    /// document's HTML. A reply rendered block by block costs a streaming update only the blocks that changed,
    /// usually the last one, where the whole reply's markup would otherwise go to the browser again every time.
    /// </summary>
    public static IReadOnlyList<string> ToHtmlBlocks(string markdown)
    {
        var document = Markdig.Markdown.Parse(markdown, Pipeline);
        foreach (var link in document.Descendants<LinkInline>())
        {
            if (!IsSafeUrl(link.Url))
            {
                link.Url = "#";
            }
        }
        foreach (var link in document.Descendants<AutolinkInline>())
        {
            if (!IsSafeUrl(link.Url))
            {
                link.Url = "#";
            }
        }
        using var writer = new StringWriter();
        var renderer = new Markdig.Renderers.HtmlRenderer(writer);
        Pipeline.Setup(renderer);
        renderer.ObjectRenderers.ReplaceOrAdd<CodeBlockRenderer>(new CopyableCodeBlockRenderer());
        var blocks = new List<string>(document.Count);
        foreach (var block in document)
        {
            renderer.Render(block);
            renderer.Writer.Flush();
            var html = writer.GetStringBuilder();
            if (html.Length > 0)
            {
                blocks.Add(html.ToString());
                html.Clear();
            }
        }
        return blocks;
    }

    /// <summary>Code blocks with a Copy button (portal.js copies the block's text). The button is Portal's markup, not the model's.</summary>
    private sealed class CopyableCodeBlockRenderer : CodeBlockRenderer
    {
        protected override void Write(Markdig.Renderers.HtmlRenderer renderer, CodeBlock obj)
        {
            renderer.EnsureLine();
            renderer.Write("<div class=\"chat-code\"><button type=\"button\" class=\"chat-copy\" data-copy-code aria-label=\"Copy code\">Copy</button>");
            base.Write(renderer, obj);
            renderer.WriteLine("</div>");
        }
    }

    internal static bool IsSafeUrl(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return true;
        }
        var trimmed = url.Trim();
        if (trimmed.StartsWith('/') || trimmed.StartsWith('#') || trimmed.StartsWith('.'))
        {
            return !trimmed.StartsWith("//", StringComparison.Ordinal) || Uri.TryCreate("https:" + trimmed, UriKind.Absolute, out _);
        }
        if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var uri))
        {
            // A relative reference without a scheme ("page.html") is harmless; anything with a colon before a slash is not.
            var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
            var slash = trimmed.IndexOf('/', StringComparison.Ordinal);
            return colon < 0 || (slash >= 0 && slash < colon);
        }
        return uri.Scheme is "http" or "https" or "mailto";
    }
}
