namespace Portal.Sessions;

/// <summary>What a session is: which entry point created it.</summary>
public static class SessionKinds
{
    public const string Chat = "chat";
    public const string Agent = "agent";
    public const string ChatWebSocket = "chat-ws";
    public const string CesProxy = "ces-proxy";
    public const string Hub = "hub";

    public static readonly IReadOnlyList<string> All = [Chat, Agent, ChatWebSocket, CesProxy, Hub];

    public static bool IsKnown(string? kind) => kind is not null && All.Contains(kind);
}

public static class SessionStatuses
{
    /// <summary>Something is live: a connection is open or an agent run is in progress.</summary>
    public const string Active = "active";
    /// <summary>Nothing is live, and the session can go on (a chat conversation between replies).</summary>
    public const string Idle = "idle";
    /// <summary>The connection closed; the session is over.</summary>
    public const string Ended = "ended";
    /// <summary>The process stopped while the session was active (crash, kill, restart).</summary>
    public const string Interrupted = "interrupted";

    public static readonly IReadOnlyList<string> All = [Active, Idle, Ended, Interrupted];

    public static bool IsKnown(string? status) => status is not null && All.Contains(status);
}

public static class EventDirections
{
    /// <summary>From a client into Portal.</summary>
    public const string In = "in";
    /// <summary>From Portal to a client.</summary>
    public const string Out = "out";
    /// <summary>Something Portal did or decided that did not cross a wire.</summary>
    public const string Internal = "internal";
}

public static class EventActors
{
    public const string User = "user";
    public const string Participant = "participant";
    public const string Agent = "agent";
    public const string Proxy = "proxy";
    public const string System = "system";
    /// <summary>An administrator acting on someone else's session (see <see cref="EventTypes.AdminViewed"/>).</summary>
    public const string Admin = "admin";
}

/// <summary>Event types shared by several parts; protocols add their own.</summary>
public static class EventTypes
{
    public const string SessionStarted = "session_started";
    public const string SessionEnded = "session_ended";
    public const string UserInput = "user_input";
    public const string ResponseDelta = "response_delta";
    public const string ResponseItem = "response_item";
    public const string ApprovalRequest = "approval_request";
    public const string ApprovalDecision = "approval_decision";
    public const string ToolOutput = "tool_output";
    public const string Error = "error";
    public const string ProxyFrame = "proxy_frame";
    public const string RunStarted = "run_started";
    public const string RunFinished = "run_finished";
    /// <summary>An administrator read this session, which belongs to someone else; payload: adminId, admin (name), via.</summary>
    public const string AdminViewed = "admin_viewed";
}
