using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.RenderTree;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Components.Chat;

namespace Portal.Tests.Components;

#pragma warning disable BL0006 // RenderTree types are meant for renderers, and this test is one: it reads what a circuit would send.

/// <summary>What a streamed reply costs on the circuit: the markup in each render batch, as Blazor Server sends it to the browser.</summary>
public sealed class MessageViewDiffTests
{
    [Fact]
    public async Task AStreamingReply_SendsTheBrowserOnlyTheBlockThatChanged()
    {
        var first = "First paragraph " + string.Concat(Enumerable.Repeat("alpha ", 300));
        var second = "Second paragraph " + string.Concat(Enumerable.Repeat("beta ", 300));
        var message = new ChatMessage("i1", "assistant", DateTimeOffset.UnixEpoch) { Streaming = true };
        message.Append(first + "\n\n" + second + "\n\nThird paragraph so");
        await using var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        await using var renderer = new MarkupRecorder(services);
        var parameters = ParameterView.FromDictionary(new Dictionary<string, object?> { ["Message"] = message });

        var id = await renderer.Dispatcher.InvokeAsync(() => renderer.RenderAsync<MessageView>(parameters));
        var initial = renderer.TakeMarkup();
        message.Append(" far");
        await renderer.Dispatcher.InvokeAsync(() => renderer.RenderAgainAsync(id, parameters));
        var update = renderer.TakeMarkup();

        Assert.Contains("alpha", initial, StringComparison.Ordinal);
        Assert.Equal("<p>Third paragraph so far</p>\n", update);
    }

    [Fact]
    public async Task ANewParagraph_IsSentAlone()
    {
        var message = new ChatMessage("i1", "assistant", DateTimeOffset.UnixEpoch) { Streaming = true };
        message.Append("One.\n\n```sh\nls\n```");
        await using var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        await using var renderer = new MarkupRecorder(services);
        var parameters = ParameterView.FromDictionary(new Dictionary<string, object?> { ["Message"] = message });

        var id = await renderer.Dispatcher.InvokeAsync(() => renderer.RenderAsync<MessageView>(parameters));
        renderer.TakeMarkup();
        message.Append("\n\nTwo");
        await renderer.Dispatcher.InvokeAsync(() => renderer.RenderAgainAsync(id, parameters));

        Assert.Equal("<p>Two</p>\n", renderer.TakeMarkup());
    }

    /// <summary>A renderer that keeps the markup each render batch carries (new markup frames and markup updates).</summary>
    private sealed class MarkupRecorder(IServiceProvider services) : Renderer(services, NullLoggerFactory.Instance)
    {
        private readonly System.Text.StringBuilder _markup = new();

        public override Dispatcher Dispatcher { get; } = Dispatcher.CreateDefault();

        public async Task<int> RenderAsync<TComponent>(ParameterView parameters) where TComponent : IComponent
        {
            var id = AssignRootComponentId(InstantiateComponent(typeof(TComponent)));
            await RenderRootComponentAsync(id, parameters);
            return id;
        }

        public Task RenderAgainAsync(int id, ParameterView parameters) => RenderRootComponentAsync(id, parameters);

        public string TakeMarkup()
        {
            var markup = _markup.ToString();
            _markup.Clear();
            return markup;
        }

        protected override void HandleException(Exception exception) => throw exception;

        protected override Task UpdateDisplayAsync(in RenderBatch renderBatch)
        {
            for (var i = 0; i < renderBatch.UpdatedComponents.Count; i++)
            {
                var diff = renderBatch.UpdatedComponents.Array[i];
                for (var e = 0; e < diff.Edits.Count; e++)
                {
                    var edit = diff.Edits.Array[diff.Edits.Offset + e];
                    if (edit.Type is RenderTreeEditType.PrependFrame or RenderTreeEditType.UpdateMarkup)
                    {
                        AppendMarkup(renderBatch.ReferenceFrames.Array, edit.ReferenceFrameIndex);
                    }
                }
            }
            return Task.CompletedTask;
        }

        /// <summary>The markup of a frame and, for an element or region, of the frames inside it.</summary>
        private void AppendMarkup(RenderTreeFrame[] frames, int index)
        {
            var frame = frames[index];
            if (frame.FrameType == RenderTreeFrameType.Markup)
            {
                _markup.Append(frame.MarkupContent);
            }
            else if (frame.FrameType is RenderTreeFrameType.Element or RenderTreeFrameType.Region)
            {
                var end = index + (frame.FrameType == RenderTreeFrameType.Element ? frame.ElementSubtreeLength : frame.RegionSubtreeLength);
                for (var child = index + 1; child < end; child++)
                {
                    if (frames[child].FrameType == RenderTreeFrameType.Markup)
                    {
                        _markup.Append(frames[child].MarkupContent);
                    }
                }
            }
        }
    }
}
