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

    public static string ToHtml(string markdown)
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
        renderer.Render(document);
        return writer.ToString();
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
