using System.Text;
using System.Text.Json;
using Portal.Agents.Chat;
using Portal.Sessions;

namespace Portal.Components.Chat;

/// <summary>One message of a conversation as shown.</summary>
public sealed class ChatMessage(string id, string role, DateTimeOffset time)
{
    private readonly StringBuilder _text = new();
    private string? _cached;

    public string Id { get; } = id;
    public string Role { get; } = role;
    public DateTimeOffset Time { get; } = time;
    public string? RunId { get; set; }
    public string? Agent { get; set; }
    public bool Offline { get; set; }
    /// <summary>True while tokens are still arriving.</summary>
    public bool Streaming { get; set; }
    /// <summary>Why the reply ended early: stopped, failed, interrupted.</summary>
    public string? EndedAs { get; set; }
    public string? Error { get; set; }
    /// <summary>Changes whenever the text does; lets a message component skip re-rendering unchanged text.</summary>
    public int Version { get; private set; }

    public string Text => _cached ??= _text.ToString();

    public void Append(string delta)
    {
        _text.Append(delta);
        _cached = null;
        Version++;
    }

    public void Replace(string text)
    {
        _text.Clear().Append(text);
        _cached = null;
        Version++;
    }
}

/// <summary>
/// A conversation folded from its session's events. Applying the same events in the same order always gives the
/// same view, which is what makes refresh, a second tab and a reconnect show exactly the same thing.
/// </summary>
public sealed class ConversationView
{
    private readonly Dictionary<string, ChatMessage> _byItem = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Agent, bool Offline)> _runs = new(StringComparer.Ordinal);

    public List<ChatMessage> Messages { get; } = [];
    public long LastSeq { get; private set; }
    public string? RunningRunId { get; private set; }
    public bool Running => RunningRunId is not null;
    public string? LastError { get; private set; }

    /// <summary>Applies one event; events at or below <see cref="LastSeq"/> are ignored, so replays are harmless.</summary>
    public void Apply(SessionEvent e)
    {
        if (e.Seq <= LastSeq)
        {
            return;
        }
        LastSeq = e.Seq;
        try
        {
            switch (e.Type)
            {
                case EventTypes.UserInput:
                    var input = Read<UserInputPayload>(e);
                    Messages.Add(NewMessage($"u{e.Seq}", "user", e, input?.Text ?? ""));
                    LastError = null;
                    break;
                case EventTypes.RunStarted when Read<RunStartedPayload>(e) is { } started:
                    _runs[started.RunId] = (started.Agent, started.Offline);
                    RunningRunId = started.RunId;
                    break;
                case EventTypes.ResponseDelta when Read<ResponseDeltaPayload>(e) is { } delta:
                    var streaming = AssistantMessage(delta.ItemId, delta.RunId, e);
                    streaming.Streaming = true;
                    streaming.Append(delta.Delta);
                    break;
                case EventTypes.ResponseItem when Read<ResponseItemPayload>(e) is { Type: "message" } item:
                    var complete = AssistantMessage(item.Id, item.RunId, e);
                    complete.Replace(item.Text);
                    complete.Streaming = false;
                    break;
                case EventTypes.RunFinished when Read<RunFinishedPayload>(e) is { } finished:
                    foreach (var message in Messages.Where(m => m.RunId == finished.RunId))
                    {
                        message.Streaming = false;
                        message.EndedAs = finished.Status == RunStatuses.Completed ? null : finished.Status;
                    }
                    if (RunningRunId == finished.RunId)
                    {
                        RunningRunId = null;
                    }
                    break;
                case EventTypes.Error when Read<ErrorPayload>(e) is { } error:
                    LastError = error.Message;
                    break;
            }
        }
        catch (JsonException)
        {
            // An event this view cannot read is skipped; the log keeps it.
        }
    }

    private ChatMessage AssistantMessage(string itemId, string runId, SessionEvent e)
    {
        if (_byItem.TryGetValue(itemId, out var existing))
        {
            return existing;
        }
        var message = NewMessage(itemId, "assistant", e, "");
        message.RunId = runId;
        if (_runs.TryGetValue(runId, out var run))
        {
            message.Agent = run.Agent;
            message.Offline = run.Offline;
        }
        _byItem[itemId] = message;
        Messages.Add(message);
        return message;
    }

    private static ChatMessage NewMessage(string id, string role, SessionEvent e, string text)
    {
        var message = new ChatMessage(id, role, e.Time);
        if (text.Length > 0)
        {
            message.Append(text);
        }
        return message;
    }

    private static T? Read<T>(SessionEvent e) => JsonSerializer.Deserialize<T>(e.Payload, ChatJson.Options);
}

internal static class ChatJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}
