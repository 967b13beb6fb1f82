using AngleSharp.Html.Parser;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Components.Admin;

namespace Portal.Tests.Components.Admin;

public sealed class JsonViewerTests
{
    [Fact]
    public void Format_Object_IsIndentedWithColouredParts()
    {
        var segments = JsonPretty.Format("""{"a":1,"b":[true,null,"x"],"c":{}}""", out var cut);

        Assert.False(cut);
        Assert.Equal("{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null,\n    \"x\"\n  ],\n  \"c\": {}\n}", string.Concat(segments.Select(s => s.Text)));
        Assert.Contains(new JsonSegment(JsonPart.Key, "\"a\""), segments);
        Assert.Contains(new JsonSegment(JsonPart.Number, "1"), segments);
        Assert.Contains(new JsonSegment(JsonPart.Literal, "true"), segments);
        Assert.Contains(new JsonSegment(JsonPart.StringValue, "\"x\""), segments);
    }

    [Fact]
    public void Format_NotJson_IsOneTextSegment()
    {
        var segments = JsonPretty.Format("not { json", out _);

        Assert.Equal([new JsonSegment(JsonPart.Text, "not { json")], segments);
    }

    [Fact]
    public void Format_Huge_IsCut()
    {
        var segments = JsonPretty.Format($$"""{"big":"{{new string('x', JsonPretty.MaxChars * 2)}}"}""", out var cut);

        Assert.True(cut);
        Assert.True(segments.Sum(s => s.Text.Length) <= JsonPretty.MaxChars);
    }

    [Fact]
    public async Task Render_MarkupInAPayload_IsText()
    {
        var html = await RenderAsync("""{"<b>key</b>":"<script>alert(1)</script><img src=x onerror=alert(2)>"}""");
        var document = new HtmlParser().ParseDocument(html);

        Assert.Empty(document.QuerySelectorAll("script, img, b"));
        Assert.Contains("<script>alert(1)</script>", document.QuerySelector("pre")!.TextContent, StringComparison.Ordinal);
        Assert.Equal("\"<b>key</b>\"", document.QuerySelector(".json-key")!.TextContent);
    }

    [Fact]
    public async Task Render_MarkupInAPayloadThatIsNotJson_IsText()
    {
        var html = await RenderAsync("<script>alert(1)</script>");
        var document = new HtmlParser().ParseDocument(html);

        Assert.Empty(document.QuerySelectorAll("script"));
        Assert.Equal("<script>alert(1)</script>", document.QuerySelector("pre")!.TextContent);
    }

    private static async Task<string> RenderAsync(string payload)
    {
        await using var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        await using var renderer = new HtmlRenderer(services, NullLoggerFactory.Instance);
        return await renderer.Dispatcher.InvokeAsync(async () =>
        {
            var output = await renderer.RenderComponentAsync<JsonViewer>(ParameterView.FromDictionary(new Dictionary<string, object?> { ["Payload"] = payload }));
            return output.ToHtmlString();
        });
    }
}
