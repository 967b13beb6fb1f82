namespace Portal.Endpoints.ChatSocket;

/// <summary>The frame types of seed 002: clients send the first three, the server the other four.</summary>
public static class ChatFrameTypes
{
    public const string Query = "query";
    public const string Command = "command";
    public const string Feedback = "feedback";
    public const string Response = "response";
    public const string Notification = "notification";
    public const string Status = "status";
    public const string Error = "error";

    public static readonly IReadOnlyList<string> FromClient = [Query, Command, Feedback];
    public static readonly IReadOnlyList<string> FromServer = [Response, Notification, Status, Error];
}

/// <summary>The commands a <c>command</c> frame may carry as its content.</summary>
public static class ChatCommands
{
    public const string Ping = "ping";
    public const string History = "history";
    public const string End = "end";

    public static readonly IReadOnlyList<string> All = [Ping, History, End];
}

/// <summary>
/// A frame the server sends: <c>{"type","content","timestamp"}</c>, with the <c>correlationId</c> of the client frame it
/// answers, an error's <c>code</c>, the welcome's <c>sessionId</c> and the <c>turns</c> of a <c>history</c> answer.
/// </summary>
public sealed record ChatFrame(
    string Type,
    string Content,
    string Timestamp,
    string? CorrelationId = null,
    string? Code = null,
    string? SessionId = null,
    int? Turns = null);
